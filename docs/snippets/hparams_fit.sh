lrlaw hparams fit data/steplaw/dense_lr_bs_loss.csv --out hp.json --plot-laws laws.png \
    --plot-landscape landscape.png
