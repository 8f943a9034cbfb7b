lrlaw predict fit.json data/mpl/100m/*.csv --schedules data/schedules.txt --out pred.csv --plot pred.png
