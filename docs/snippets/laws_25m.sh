lrlaw evaluate data/mpl/25m/*.csv --schedules data/schedules.txt --train cosine_24000 \
    --train constant_24000 --train wsdcon_9 --law momentum --law multipower \
    --law convex
