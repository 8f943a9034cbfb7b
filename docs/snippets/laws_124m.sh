lrlaw evaluate data/schaipp-124m/canonical/*.csv --schedules data/schedules.txt \
    --train stable --train cosine --law momentum --law multipower --law convex
