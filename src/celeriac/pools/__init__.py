"""Where sync task bodies run: runner threads in this process, or prefork children."""
