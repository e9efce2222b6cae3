"""Branch environments: the environment file a branch gets, its state and expiry (dev_envs), and its
life after creation: destroy, reap, recreate (lifecycle), behind `env create | destroy | list | reap`."""
