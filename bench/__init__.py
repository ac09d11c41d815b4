"""The benchmark behind `make bench`: loads on loopback against two chat servers, one printed table."""
