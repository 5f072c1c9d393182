#!/bin/sh
# Start hook: graft-launcher runs it after cleaning tmp_dir and rendering the config, before any
# component starts. A non-zero exit fails the container's startup.
set -eu
echo "stamped by the start hook as uid $(id -u) on $(hostname)" > /srv/demo/tmp/stamp.txt
