#!/bin/sh
# Makes the root file system that dmsg-cli's `image` profile gives Jib on top of `scratch`
# (docs/INSTALL.md, "A container image"): no base image is pulled from a registry (none is
# reachable from our build machines, and none is needed). Usage: image-root.sh OUT LIBDIR
#   OUT     the directory to fill (emptied first): OUT/opt/java, OUT/usr/lib, OUT/lib64, OUT/tmp, OUT/var/lib/dmsg
#   LIBDIR  the jars the image runs (to find the native libraries inside them)
# The runtime is a jlink image of the JDK running Maven (17 or newer, with jmods): the modules jdeps
# finds in our jars, plus jdk.crypto.ec (EC keys and TLS groups). The shared libraries come from this
# machine: whatever ldd says the runtime and the natives in our jars (Netty epoll, BoringSSL, JLine)
# load, with glibc's loader at the path the ELF files name.
set -eu
out=$1
libdir=$2
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
modules=java.base,java.desktop,java.logging,java.management,java.naming,java.net.http,java.sql,java.xml,jdk.crypto.ec,jdk.jfr,jdk.management,jdk.security.auth,jdk.unsupported

rm -rf "$out"
mkdir -p "$out/opt" "$out/tmp" "$out/var/lib/dmsg"
"$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
    --output "$out/opt/java"

# the ELF files that will run: the runtime's, and the natives our jars unpack at run time
natives=$(mktemp -d)
trap 'rm -rf "$natives"' EXIT
for j in "$libdir"/*.jar; do
    unzip -q -o "$j" 'META-INF/native/*.so' '*/linux-x64/*.so' '*/Linux/x86_64/*.so' -d "$natives" 2>/dev/null || true
done
# java.desktop is there for java.beans (Jackson, picocli); its AWT, font and sound natives load only
# for a display, so their libraries (X11, freetype, ...) stay out
elves=$( (find "$out/opt/java" -type f \( -name '*.so' -o -path '*/bin/*' \) \
    | grep -Ev '/lib(awt|jawt|awt_xawt|awt_headless|fontmanager|javajpeg|lcms|splashscreen|jsound|mlib_image)\.so$'
    find "$natives" -name '*.so') )

# every library they load, and the loader itself, copied (not linked) to the path ldd found it at
for lib in $(for f in $elves; do ldd "$f" 2>/dev/null; done | awk '/=> \//{print $3} /^\s*\/[^ ]*ld-linux/{print $1}' | sort -u); do
    case $lib in "$out"/* | "$natives"/*) continue ;; esac   # the runtime's own libraries
    real=$(readlink -f "$lib")
    # all in /usr/lib/ARCH (glibc searches it without an ld.so.cache); no symlinks, which Jib would not keep
    dest="$out/usr/lib/$(basename "$(dirname "$lib")")/$(basename "$lib")"
    mkdir -p "$(dirname "$dest")"
    cp "$real" "$dest"
done
# the interpreter path in the ELF headers
interp=$(readlink -f /lib64/ld-linux-x86-64.so.2)
mkdir -p "$out/lib64"
cp "$interp" "$out/lib64/ld-linux-x86-64.so.2"
# user names for the JVM's user.name and for tools run in the container
mkdir -p "$out/etc"
printf 'root:x:0:0:root:/root:/sbin/nologin\ndmsg:x:65532:65532:dmsg:/var/lib/dmsg:/sbin/nologin\n' > "$out/etc/passwd"
printf 'root:x:0:\ndmsg:x:65532:\n' > "$out/etc/group"
echo "image-root: $(du -sh "$out" | cut -f1) in $out"
