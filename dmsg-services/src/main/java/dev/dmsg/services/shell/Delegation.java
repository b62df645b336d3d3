package dev.dmsg.services.shell;

import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * Whom a shell command is run for when a node passes it on ({@code @NODE COMMAND},
 * docs/IDENTITY.md §5): the caller as the passing node knows it, and how deep the {@code @}
 * nesting already is. It rides in the DBG_SHELL aux after the command line's NUL, so a 2013 C
 * shell, which reads the aux up to its first NUL, never sees it (and we send it only to our
 * nodes). A delegation can only restrict: the far end runs the command with the lesser of the
 * rights it gives the node that passed it on and the rights named here.
 *
 * <pre>dmsg-on-behalf-of-v1 depth=2 role=member grants=- fp=SHA256:… name=alpha</pre>
 *
 * @param depth how many {@code @} hops the command has already taken (1 for the first)
 */
public record Delegation(String name, String fingerprint, Role role, int grants, int depth) {
    static final String MAGIC = "dmsg-on-behalf-of-v1";
    /** The deepest {@code @} nesting run (docs/IDENTITY.md §5). */
    public static final int MAX_DEPTH = 4;

    public Delegation {
        name = safe(name);
        fingerprint = safe(fingerprint);
        if (depth < 0) {
            throw new IllegalArgumentException("depth must be >= 0, not " + depth);
        }
    }

    /** The same caller one hop deeper. */
    public Delegation deeper() {
        return new Delegation(name, fingerprint, role, grants, depth + 1);
    }

    /** The text that follows the command line's NUL in the aux. */
    public String encode() {
        return MAGIC + " depth=" + depth + " role=" + role.word() + " grants=" + Grants.format(grants) + " fp="
            + fingerprint + " name=" + name;
    }

    /**
     * The delegation in a DBG_SHELL aux (after its first NUL), or {@code null} if there is none.
     *
     * @throws IllegalArgumentException for a record that starts with the marker but is malformed
     */
    public static Delegation fromAux(byte[] aux) {
        int nul = 0;
        while (nul < aux.length && aux[nul] != 0) {
            nul++;
        }
        int start = nul + 1;
        if (start >= aux.length) {
            return null;
        }
        int end = start;
        while (end < aux.length && aux[end] != 0) {
            end++;
        }
        return parse(new String(aux, start, end - start, StandardCharsets.UTF_8));
    }

    /** Parses {@link #encode()}'s form; {@code null} if {@code s} is not a delegation at all. */
    public static Delegation parse(String s) {
        if (!s.startsWith(MAGIC + " ")) {
            return null;
        }
        Map<String, String> kv = new HashMap<>();
        for (String w : s.substring(MAGIC.length() + 1).trim().split(" +")) {
            int eq = w.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("delegation: '" + w + "' is not KEY=VALUE");
            }
            kv.put(w.substring(0, eq), w.substring(eq + 1));
        }
        for (String k : new String[] {"depth", "role", "grants", "fp", "name"}) {
            if (!kv.containsKey(k)) {
                throw new IllegalArgumentException("delegation: no " + k);
            }
        }
        int depth;
        try {
            depth = Integer.parseInt(kv.get("depth"));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("delegation: depth '" + kv.get("depth") + "' is not a number");
        }
        Role role = Role.parse(kv.get("role"));
        return new Delegation(kv.get("name"), kv.get("fp"), role, Grants.parse(kv.get("grants")), depth);
    }

    /** Names and fingerprints travel as words: anything but {@code [A-Za-z0-9._:@+/=-]} becomes '_', at most 96. */
    private static String safe(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length() && b.length() < 96; i++) {
            char c = s.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || "._:@+/=-".indexOf(c) >= 0;
            b.append(ok ? c : '_');
        }
        return b.length() == 0 ? "_" : b.toString();
    }
}
