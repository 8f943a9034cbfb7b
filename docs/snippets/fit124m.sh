lrlaw fit data/schaipp-124m/canonical/stable.csv data/schaipp-124m/canonical/cosine.csv \
    --schedules data/schedules.txt --out fit124m.json
