lrlaw hparams suggest --params 1e9 --tokens 1e11 --fit hp.json
