//! OAuth token store: refresh, rotation, single flight across replicas, pause on failure.
