lrlaw fit data/schaipp-124m/stable-124m-lr0.001.json data/schaipp-124m/cos-zero-124m-lr0.001.json \
    --initial-lr 1e-5 --bootstrap 0 --out fit124m_wandb.json
