DROP TABLE key_canaries;
