lrlaw optimize fit.json --total-steps 24000 --peak 3e-4 --warmup 2160 \
    --out schedule.csv --plot optimum.png
