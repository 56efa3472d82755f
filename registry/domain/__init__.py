"""Pure domain rules: no Flask, no SQL, no clock reads. Everything here is a function of its inputs."""
