lrlaw fit data/mpl/25m/{cosine_24000,constant_24000,wsdcon_9}.csv \
    --schedules data/schedules.txt --law auto --out fit_auto.json
