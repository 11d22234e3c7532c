-- One database per service (the same names `kgo infra up` creates), run once by the
-- postgres image on an empty data volume.
CREATE DATABASE kgo_wallet;
CREATE DATABASE kgo_missions;
CREATE DATABASE kgo_merchant;
CREATE DATABASE kgo_transit;
CREATE DATABASE kgo_projections;
