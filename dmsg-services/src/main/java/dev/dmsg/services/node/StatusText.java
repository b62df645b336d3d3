package dev.dmsg.services.node;

import com.fasterxml.jackson.databind.JsonNode;

/** The human form of the status document: what {@code status}, {@code tree}, {@code links} print. */
final class StatusText {
    private StatusText() {}

    static String render(JsonNode s) {
        JsonNode n = s.get("node");
        StringBuilder b = new StringBuilder();
        b.append(String.format("node %s  listen %s  %s/%s  cluster \"%s\"  origin %s%n", n.get("label").asText(),
            n.get("listen").asText(), n.get("peer_type").asText(), n.get("pfs_type").asText(),
            n.get("cl_label").asText(), n.get("origin").asText()));
        if (n.hasNonNull("fingerprint")) {
            b.append(String.format("key %s  links %s%n", n.get("fingerprint").asText(), n.get("tls").asText()));
        }
        b.append('\n').append(links(s)).append('\n').append(tree(s)).append('\n').append(volconf(s));
        if (s.has("exports") && !s.get("exports").isEmpty()) {
            b.append('\n').append(exports(s));
        }
        return b.toString();
    }

    /** The BLK exports (docs/BLK.md): what each serves, its serial, and its traffic. */
    static String exports(JsonNode s) {
        StringBuilder b = new StringBuilder("exports:\n");
        for (JsonNode e : s.get("exports")) {
            b.append(String.format("  %-12s %s  %d bytes  blksize %d%s  serial %s%n", e.get("name").asText(),
                e.get("path").asText(), e.get("size").asLong(), e.get("blksize").asInt(),
                e.get("read_only").asBoolean() ? "  read-only" : "", e.get("serial").asText()));
            b.append(String.format("  %-12s opens %d  read %d B in %d  written %d B in %d  errors %d  refused %d%n", "",
                e.get("opens").asInt(), e.get("bytes_read").asLong(), e.get("reads").asLong(),
                e.get("bytes_written").asLong(), e.get("writes").asLong(), e.get("errors").asLong(),
                e.get("refused").asLong()));
        }
        return b.toString();
    }

    static String links(JsonNode s) {
        StringBuilder b = new StringBuilder("links:\n");
        if (s.get("links").isEmpty()) {
            b.append("  (none)\n");
        }
        for (JsonNode l : s.get("links")) {
            b.append(String.format("  %-16s %-21s %-7s %-8s up %5ds  in %d msgs/%d B  out %d msgs/%d B%n",
                l.get("peer").asText(), l.get("address").asText(), l.get("state").asText(),
                l.has("role") ? l.get("role").asText().replace(" (plaintext)", "*") : "", l.get("age_s").asLong(),
                l.get("msgs_in").asLong(), l.get("bytes_in").asLong(), l.get("msgs_out").asLong(),
                l.get("bytes_out").asLong()));
        }
        return b.toString();
    }

    /** Like the C shell's {@code tree}: cluster, node, the links that reach it, the relays made from each. */
    static String tree(JsonNode s) {
        StringBuilder b = new StringBuilder("spans:\n");
        String cluster = null;
        for (JsonNode n : s.get("spans")) {
            String c = n.get("peer_type").asText() + " " + n.get("pfs_clid").asText() + " (" + n.get("cl_label").asText() + ")";
            if (!c.equals(cluster)) {
                b.append("Cluster ").append(c).append('\n');
                cluster = c;
            }
            b.append(String.format("    Node %s %s (%s) dist %d%s%s%n", n.get("pfs_type").asText(), n.get("pfs_fsid").asText(),
                n.get("fs_label").asText(), n.get("dist").asInt(), n.get("local").asBoolean() ? " [this node]" : "",
                n.has("bytes") ? " bytes " + n.get("bytes").asLong() + " blksize " + n.get("blksize").asInt() : ""));
            for (JsonNode l : n.get("links")) {
                b.append(String.format("\tSLink %sdist=%d via %s%s%s%s%n",
                    l.has("msgid") ? "msgid " + l.get("msgid").asText() + " " : "", l.get("dist").asInt(), l.get("via").asText(),
                    l.has("seqno") ? " seqno=" + l.get("seqno").asInt() : "",
                    l.get("feasible").asBoolean() ? "" : " (not feasible)",
                    l.has("trust") ? " [" + l.get("trust").asText() + " " + l.get("signer").asText() + "]" : ""));
                for (JsonNode r : l.get("relays")) {
                    b.append("\t    Relay-out to ").append(r.asText()).append('\n');
                }
            }
        }
        return b.toString();
    }

    static String volconf(JsonNode s) {
        StringBuilder b = new StringBuilder("volconf:\n");
        if (s.get("volconf").isEmpty()) {
            b.append("  (empty)\n");
        }
        for (JsonNode v : s.get("volconf")) {
            b.append(String.format("  slot %3d  copyid %3d  %-8s %-32s link %s%n", v.get("index").asInt(),
                v.get("copyid").asInt(), v.get("enabled").asBoolean() ? "enabled" : "disabled", v.get("path").asText(),
                v.get("link").isNull() ? "-" : v.get("link").asText()));
        }
        return b.toString();
    }
}
