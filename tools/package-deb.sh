#!/bin/sh
#
# Builds pcp-pmda-ebpf_<version>_<arch>.deb from a built tree (`npm run package` builds first):
#   tools/package-deb.sh [output directory]        (default: the top of the tree)
#
# The agent directory is exactly what ./Install deploys (it runs Install's own deployment into
# a staging root, DESTDIR=...), so the package can never drift from a source-tree install.
# packaging/deb/manifest adds what PCP's tools look for elsewhere (man page, pmlogconf,
# pmieconf, pmrep files); packaging/deb/ holds the control template and maintainer scripts.
# A shell script, not TypeScript: it drives Install, npm, gzip and dpkg-deb, and must run on a
# tree whose TypeScript build is the thing being packaged.
#
# Needs only what the build host has: dpkg-deb, pcp (for its directory layout), node, npm.
# Maintainer: from DEBFULLNAME/DEBEMAIL, as Debian's own tools take it.
#
set -e

repo=`cd "\`dirname $0\`/.." && pwd`
mkdir -p "${1:-$repo}"
out=`cd "${1:-$repo}" && pwd`
pkgdir=$repo/packaging/deb

. /etc/pcp.env
set -u

# One version, from package.json: npm's pre-release "1.2.0-rc.1" is Debian's "1.2.0~rc.1"
# (sorts before 1.2.0 in both).
version=`node -p "require('$repo/package.json').version" | sed -e 's/-/~/'`
arch=`dpkg --print-architecture`
name=pcp-pmda-ebpf
deb=$out/${name}_${version}_${arch}.deb
maintainer="${DEBFULLNAME:-pmda-ebpf developers} <${DEBEMAIL:-root@localhost}>"

pmda_dir=$PCP_PMDAS_DIR/ebpf
conf_dir=$PCP_SYSCONF_DIR/ebpf
state_dir=$PCP_VAR_DIR/config/pmda/ebpf
log_dir=$PCP_LOG_DIR/pmcd

stage=`mktemp -d`
trap 'rm -rf "$stage"' 0
root=$stage/root
mkdir -p "$root/DEBIAN"

# 1. The agent, as Install deploys it; the launcher runs the nodejs package's node.
if ! DESTDIR=$root PMDA_NODE=/usr/bin/node "$repo/Install" </dev/null >"$stage/deploy.log" 2>&1
then
    cat "$stage/deploy.log" >&2
    echo "package-deb: Install's deployment failed (above)" >&2
    exit 1
fi

# 2. The manifest's extras, where present in the tree.
subst()
{
    sed -e "s|@PCP_VAR_DIR@|$PCP_VAR_DIR|g" -e "s|@PCP_SYSCONF_DIR@|$PCP_SYSCONF_DIR|g" \
	-e "s|@PMDA_DIR@|$pmda_dir|g" -e "s|@CONF_DIR@|$conf_dir|g" \
	-e "s|@STATE_DIR@|$state_dir|g" -e "s|@LOG_DIR@|$log_dir|g" \
	-e "s|@VERSION@|$version|g" -e "s|@ARCH@|$arch|g" -e "s|@MAINTAINER@|$maintainer|g" "$@"
}
subst "$pkgdir/manifest" | sed -e 's/#.*//' | while read src dir
do
    [ -n "$src" ] || continue
    [ -e "$repo/$src" ] || { echo "package-deb: $src: not in the tree, not shipped"; continue; }
    mkdir -p "$root$dir"
    if [ -d "$repo/$src" ]
    then
	cp -R "$repo/$src/." "$root$dir/"
    else
	cp "$repo/$src" "$root$dir/"
    fi
    echo "package-deb: $src -> $dir"
done
find "$root/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} + 2>/dev/null || true

# Debian wants the licence and a changelog with every package. Their dates, and every file's,
# are the last commit's, so two builds of one commit are the same package byte for byte.
commit=`git -C "$repo" log -1 --format='%h %ct' 2>/dev/null || echo "unknown \`date +%s\`"`
when=${commit#* }
doc=$root/usr/share/doc/$name
mkdir -p "$doc"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: pmda-ebpf

Files: *
Copyright: `date -u -d @$when +%Y` the pmda-ebpf developers
License: GPL-2.0-or-later
 On Debian systems the full text is in /usr/share/common-licenses/GPL-2.
EOF
cat <<EOF | gzip -9n >"$doc/changelog.gz"
$name ($version) unstable; urgency=medium

  * pmda-ebpf $version, built from commit ${commit% *}.

 -- $maintainer  `date -R -u -d @$when`
EOF

# 3. Control data. Every file under /etc is a conffile: dpkg keeps the administrator's edits.
find "$root" -path "$root/DEBIAN" -prune -o -type d -exec chmod 755 {} +
find "$root" -path "$root/DEBIAN" -prune -o -type f -exec chmod u+rw,go+r,go-w {} +
size=`du -sk --exclude=DEBIAN "$root" | cut -f1`
subst -e "s/@INSTALLED_SIZE@/$size/" "$pkgdir/control" >"$root/DEBIAN/control"
(cd "$root" && find etc -type f 2>/dev/null | sed -e 's@^@/@' | sort) >"$root/DEBIAN/conffiles"
[ -s "$root/DEBIAN/conffiles" ] || rm -f "$root/DEBIAN/conffiles"
for s in preinst postinst prerm postrm
do
    subst "$pkgdir/$s" >"$root/DEBIAN/$s"
    chmod 755 "$root/DEBIAN/$s"
done

find "$root" -exec touch -h -d @$when {} +
SOURCE_DATE_EPOCH=$when dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "package-deb: built $deb (`du -k "$deb" | cut -f1` KiB, installs $size KiB)"
