lrlaw schedule 'cosine:peak=3e-4,warmup=2160,total=24000,final=3e-5' --out cosine.csv \
    && lrlaw schedule 'wsd:peak=3e-4,warmup=2160,total=24000,decay_start=20000,final=3e-5' \
    --out wsd.json --plot wsd.png
