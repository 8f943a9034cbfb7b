lrlaw evaluate fit.json data/mpl/100m/{cosine_72000,constant_72000,wsd_20000_24000,wsdld_20000_24000,wsdcon_3,wsdcon_18}.csv --schedules data/schedules.txt
