lrlaw refine data/schaipp-124m/stable-124m-lr0.001.json --peak 1e-3 --warmup 300 \
    --warmup-start 1e-5 --out refined.csv --fit fit124m.json --plot refined.png
