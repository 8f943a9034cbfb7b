lrlaw plan --params 4.29e8 --tokens 4e10 --fit fit.json --out plan.md --plot plan.png
