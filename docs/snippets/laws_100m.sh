lrlaw evaluate data/mpl/100m/*.csv --schedules data/schedules.txt --train cosine_24000 \
    --train constant_24000 --train wsdcon_9 --law momentum --law multipower \
    --law convex --plot law_comparison_100m.png
