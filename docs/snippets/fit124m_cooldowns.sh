lrlaw fit data/schaipp-124m/ann124-0.2-lr0.001.json data/schaipp-124m/ann124-0.2sqrt-lr0.001.json \
    --base data/schaipp-124m/stable-124m-lr0.001.json --initial-lr 1e-5 --bootstrap 0 \
    --out cooldowns.json
