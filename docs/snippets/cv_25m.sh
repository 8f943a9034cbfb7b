lrlaw evaluate data/mpl/25m/*.csv --schedules data/schedules.txt --cv --law momentum
