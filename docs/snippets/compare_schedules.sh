lrlaw compare fit.json \
    --schedule cosine=cosine:peak=3e-4,total=24000,warmup=2160,final=3e-5 \
    --schedule constant=constant:peak=3e-4,total=24000,warmup=2160 \
    --schedule wsd=wsd:peak=3e-4,total=24000,warmup=2160,decay_start=20000,final=3e-5,shape=exp \
    --schedule wsd-linear=wsd:peak=3e-4,total=24000,warmup=2160,decay_start=20000,final=3e-5,shape=linear \
    --out compare.csv --plot compare.png
