#!/bin/sh
# gen-assets.sh PLUGIN_DIR: what the demo's build-step plugin runs at build time (in BuildKit,
# inside the base image). It stands for ArchivesSpace's scripts/initialize-plugin.sh (gem
# installs): it generates a file from the plugin's sources, so the file exists only in the image.
set -eu
dir="${1:?usage: gen-assets.sh PLUGIN_DIR}"
src="$dir/assets.src"
out="$dir/generated/assets.txt"
mkdir -p "$dir/generated"
{
  echo "generated at build time by gen-assets.sh"
  echo "lines: $(wc -l < "$src")"
  tr 'a-z' 'A-Z' < "$src"
} > "$out"
