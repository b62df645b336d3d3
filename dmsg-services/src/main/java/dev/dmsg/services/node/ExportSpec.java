package dev.dmsg.services.node;

import dev.dmsg.quorum.cac.CacKey;
import dev.dmsg.services.blk.ExportAccess;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The text form of an export (docs/BLK.md "Exports"): {@code NAME=PATH[,ro|rw][,blksize=N][,allow=WHO+…][,fence=KEY]},
 * what {@code dmsg node --export} takes, and a list of them in one comma-separated value, what a
 * config file's {@code export=} holds.
 */
public final class ExportSpec {
    private ExportSpec() {}

    /**
     * One export: {@code NAME=PATH[,ro][,blksize=N][,allow=WHO+…]}.
     *
     * @throws IllegalArgumentException saying what is wrong with {@code spec}
     */
    public static Node.Export parse(String spec) {
        String[] parts = spec.split(",");
        int eq = parts[0].indexOf('=');
        if (eq <= 0 || eq == parts[0].length() - 1) {
            throw new IllegalArgumentException("export '" + spec + "': expected NAME=PATH[,ro][,blksize=N][,allow=WHO+…][,fence=KEY]");
        }
        boolean ro = false;
        int bs = Node.Export.DEFAULT_BLOCK_SIZE;
        List<String> allow = List.of();
        String fence = null;
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.equals("ro")) {
                ro = true;
            } else if (p.equals("rw")) {
                ro = false;
            } else if (p.startsWith("blksize=")) {
                try {
                    bs = Integer.parseInt(p.substring("blksize=".length()));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("export '" + spec + "': blksize is not a number: " + p);
                }
            } else if (p.startsWith("allow=")) {
                allow = List.of(p.substring("allow=".length()).split("\\+"));
            } else if (p.startsWith("fence=")) {
                fence = p.substring("fence=".length());
            } else {
                throw new IllegalArgumentException("export '" + spec + "': unknown option '" + p
                    + "' (options: ro, rw, blksize=N, allow=ROLE|LABEL[+…], fence=KEY)");
            }
        }
        return new Node.Export(parts[0].substring(0, eq).trim(), Path.of(parts[0].substring(eq + 1).trim()), ro, bs,
            allow, fence);
    }

    /**
     * Several exports in one comma-separated value: {@code a=/x,ro,b=/y,blksize=512}. An option
     * word belongs to the export before it.
     *
     * @throws IllegalArgumentException saying what is wrong with the first bad export
     */
    public static List<Node.Export> parseList(String value) {
        List<String> specs = new ArrayList<>();
        for (String part : value.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            boolean option = p.equals("ro") || p.equals("rw") || p.startsWith("blksize=") || p.startsWith("allow=")
                || p.startsWith("fence=");
            if (option && !specs.isEmpty()) {
                specs.set(specs.size() - 1, specs.get(specs.size() - 1) + "," + p);
            } else {
                specs.add(p);
            }
        }
        return specs.stream().map(ExportSpec::parse).toList();
    }

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    /**
     * Checks an export's fields ({@link Node.Export}'s constructor): the name 1..64 of
     * {@code A-Z a-z 0-9 . _ -}, the blksize a power of two in 512..65536, the allow list of roles
     * and labels (docs/IDENTITY.md §5).
     *
     * @return the allow list, checked and copied
     */
    /** A fenced export's key must be a lock's key (docs/CAC.md §1, §6). */
    static void checkFence(String name, String fence) {
        String why = fence == null ? null : CacKey.problem(fence);
        if (why != null) {
            throw new IllegalArgumentException("export " + name + ": fence=" + fence + ": " + why);
        }
    }

    static List<String> check(String name, Path path, int blockSize, List<String> allow) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(path, "path");
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("export name '" + name + "': 1..64 of A-Z a-z 0-9 . _ -");
        }
        if (blockSize < 512 || blockSize > 65536 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("export " + name + ": blksize must be a power of two in 512..65536, "
                + "not " + blockSize);
        }
        return new ExportAccess(allow == null ? List.of() : allow).allow();
    }

    /** The inverse of {@link #parse}: defaults left out. */
    static String format(Node.Export e) {
        return e.name() + "=" + e.path() + (e.readOnly() ? ",ro" : "")
            + (e.blockSize() == Node.Export.DEFAULT_BLOCK_SIZE ? "" : ",blksize=" + e.blockSize())
            + (e.allow().isEmpty() ? "" : ",allow=" + String.join("+", e.allow()))
            + (e.fence() == null ? "" : ",fence=" + e.fence());
    }
}
