lrlaw fit data/mpl/100m/{cosine_24000,constant_24000,wsdcon_9}.csv --schedules data/schedules.txt --out fit.json --plot fit.png
