lrlaw fit data/schaipp-124m/canonical/stable.csv data/schaipp-124m/canonical/cosine.csv \
    --schedules data/schedules.txt --law convex --out fit124m_convex.json
