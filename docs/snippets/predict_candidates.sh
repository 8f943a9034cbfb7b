lrlaw schedule 'inverse_sqrt:peak=3e-4,warmup=500,total=20000,cooldown=4000' \
    --out isq.csv \
    && lrlaw predict fit.json -c isq.csv \
    -c 'cos=cosine:peak=3e-4,total=24000,final=3e-5,warmup=2160' --out cand.csv
