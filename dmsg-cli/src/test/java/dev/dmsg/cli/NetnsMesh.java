package dev.dmsg.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * {@link QuorumNodes} whose members each run in their own Linux network namespace, joined by a
 * bridge in the root namespace, so that a test can partition them with nftables drop rules
 * (docs/QUORUM.md §8). Member i is {@code dmsg-TAG-ni} with address {@code 10.88.N.(10+i)} on a
 * veth into bridge {@code dmsgbrTAG} ({@code 10.88.N.1/24}, N picked free at random): the test's
 * JVM, in the root namespace, reaches every member over the bridge, and a partition cuts members
 * from each other only — what makes a stale read possible.
 *
 * <p>TAG is this JVM's pid (base 36), {@code x}, and three random characters: names never clash
 * with a concurrent run, and {@link #sweep} removes what a killed run left (its pid is gone).
 * {@link #close} removes the processes, namespaces (their nftables tables with them) and bridge.
 */
final class NetnsMesh implements AutoCloseable {
    /** The nftables table a partition adds in a member's namespace; healing deletes it. */
    static final String TABLE = "dmsgpart";
    private static final Pattern OURS = Pattern.compile("^(?:dmsg-|dmsgbr)([0-9a-z]+)x[0-9a-z]{3}(?:-n\\d+)?$");

    final QuorumNodes nodes;
    private final String tag;
    private final String bridge;
    private final String subnet;
    private final List<String> namespaces = new ArrayList<>();
    private final Path scratch;

    /** Makes the bridge and one namespace per node, then the {@link QuorumNodes} placed in them (not started). */
    NetnsMesh(Path root, String group, int n, List<String> quorumOptions) throws Exception {
        sweep();
        SecureRandom r = new SecureRandom();
        this.tag = Long.toString(ProcessHandle.current().pid(), 36) + "x"
            + Integer.toString(36 * 36 + r.nextInt(35 * 36 * 36), 36).substring(0, 3);
        this.bridge = "dmsgbr" + tag;
        this.subnet = freeSubnet(r);
        this.scratch = Files.createDirectories(root.resolve("nft"));
        boolean made = false;
        try {
            run("ip", "link", "add", bridge, "type", "bridge");
            run("ip", "addr", "add", subnet + ".1/24", "dev", bridge);
            run("ip", "link", "set", bridge, "up");
            for (int i = 0; i < n; i++) {
                String ns = "dmsg-" + tag + "-n" + i;
                String veth = "dmv" + tag + i;
                run("ip", "netns", "add", ns);
                namespaces.add(ns);
                run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
                run("ip", "link", "set", veth, "master", bridge);
                run("ip", "link", "set", veth, "up");
                run("ip", "-n", ns, "addr", "add", ip(i) + "/24", "dev", "eth0");
                run("ip", "-n", ns, "link", "set", "eth0", "up");
                run("ip", "-n", ns, "link", "set", "lo", "up");
            }
            this.nodes = new QuorumNodes(root, group, n, n, quorumOptions);
            for (int i = 0; i < n; i++) {
                nodes.placing(i, ip(i), List.of("ip", "netns", "exec", namespaces.get(i)));
            }
            made = true;
        } finally {
            if (!made) {
                removeAll();
            }
        }
    }

    /** Member i's address. */
    String ip(int i) {
        return subnet + "." + (10 + i);
    }

    /**
     * Why namespaces cannot be made here, or empty: not root, no {@code ip} or {@code nft}, or
     * {@code ip netns add} refused (a container without CAP_SYS_ADMIN), or nft refused inside one.
     */
    static Optional<String> unavailable() {
        try {
            if (!"0".equals(output("id", "-u").trim())) {
                return Optional.of("not root: network namespaces need root");
            }
        } catch (Exception e) {
            return Optional.of("cannot run id -u: " + e.getMessage());
        }
        for (String tool : List.of("ip", "nft")) {
            try {
                output("sh", "-c", "command -v " + tool);
            } catch (Exception e) {
                return Optional.of("no " + tool + " on the PATH (scripts/install-nft.sh installs nftables)");
            }
        }
        String probe = "dmsg-" + Long.toString(ProcessHandle.current().pid(), 36) + "xprb-n0";
        try {
            run("ip", "netns", "add", probe);
        } catch (Exception e) {
            return Optional.of("ip netns add failed: " + e.getMessage());
        }
        try {
            run("ip", "netns", "exec", probe, "nft", "list", "tables");
            return Optional.empty();
        } catch (Exception e) {
            return Optional.of("nft refused inside a namespace: " + e.getMessage());
        } finally {
            try {
                run("ip", "netns", "del", probe);
            } catch (Exception e) {
                // the next run's sweep removes it
            }
        }
    }

    /**
     * Cuts member i off from {@code peers} both ways, with nftables in member i's own namespace:
     * input from their addresses and output to them dropped. Others (the test's clients over the
     * bridge) still reach it. Replaces any earlier cut of member i.
     */
    void isolate(int i, Collection<Integer> peers) throws Exception {
        heal(i);
        String set = peers.stream().map(this::ip).collect(Collectors.joining(", "));
        Path script = scratch.resolve("n" + i + ".nft");
        Files.writeString(script, "table inet " + TABLE + " {\n"
            + "  chain in { type filter hook input priority 0; ip saddr { " + set + " } drop; }\n"
            + "  chain out { type filter hook output priority 0; ip daddr { " + set + " } drop; }\n"
            + "}\n", StandardCharsets.UTF_8);
        run("ip", "netns", "exec", namespaces.get(i), "nft", "-f", script.toString());
    }

    /** Removes member i's cut (its table), if any. */
    void heal(int i) throws Exception {
        String tables = output("ip", "netns", "exec", namespaces.get(i), "nft", "list", "tables");
        if (tables.contains(TABLE)) {
            run("ip", "netns", "exec", namespaces.get(i), "nft", "delete", "table", "inet", TABLE);
        }
    }

    /** Removes every cut. */
    void healAll() throws Exception {
        for (int i = 0; i < namespaces.size(); i++) {
            heal(i);
        }
    }

    /** Member i's nftables ruleset, for a test's assertions and logs. */
    String ruleset(int i) throws Exception {
        return output("ip", "netns", "exec", namespaces.get(i), "nft", "list", "ruleset");
    }

    @Override
    public void close() throws Exception {
        try {
            if (nodes != null) {
                nodes.close();
            }
        } finally {
            removeAll();
        }
    }

    private void removeAll() {
        for (String ns : namespaces) {
            removeNamespace(ns);
        }
        try {
            run("ip", "link", "del", bridge);
        } catch (Exception e) {
            // not made
        }
    }

    /** Kills what still runs in {@code ns} and deletes it (its veth and nftables tables go with it). */
    private static void removeNamespace(String ns) {
        try {
            for (String pid : output("ip", "netns", "pids", ns).split("\\s+")) {
                if (!pid.isBlank()) {
                    ProcessHandle.of(Long.parseLong(pid.trim())).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            run("ip", "netns", "del", ns);
        } catch (Exception e) {
            // already gone
        }
    }

    /** Removes namespaces and bridges named by a run whose JVM is gone (killed before its close). */
    static void sweep() {
        try {
            for (String line : output("ip", "netns", "list").split("\n")) {
                String ns = line.trim().split("\\s+")[0];
                if (orphan(ns)) {
                    removeNamespace(ns);
                }
            }
            for (String line : output("ip", "-o", "link", "show", "type", "bridge").split("\n")) {
                Matcher m = Pattern.compile("^\\d+:\\s*([^:@\\s]+)").matcher(line);
                if (m.find() && orphan(m.group(1))) {
                    run("ip", "link", "del", m.group(1));
                }
            }
        } catch (Exception e) {
            // best effort: a leftover costs a name, never a clash (names are unique)
        }
    }

    private static boolean orphan(String name) {
        Matcher m = OURS.matcher(name);
        return m.matches() && ProcessHandle.of(Long.parseLong(m.group(1), 36)).isEmpty();
    }

    /** A 10.88.N prefix no interface here has an address in. */
    private static String freeSubnet(SecureRandom r) throws Exception {
        String used = output("ip", "-4", "-o", "addr", "show");
        Set<Integer> taken = new TreeSet<>();
        Matcher m = Pattern.compile("10\\.88\\.(\\d+)\\.").matcher(used);
        while (m.find()) {
            taken.add(Integer.parseInt(m.group(1)));
        }
        for (int tries = 0; tries < 1000; tries++) {
            int n = 1 + r.nextInt(254);
            if (!taken.contains(n)) {
                return "10.88." + n;
            }
        }
        throw new IOException("no free 10.88.N.0/24: " + taken);
    }

    private static void run(String... cmd) throws Exception {
        output(cmd);
    }

    /** Runs {@code cmd}, its output; fails with that output if it exits non-zero or takes over 20 s. */
    private static String output(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + ": no exit within 20 s");
        }
        String s = new String(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + ": exit " + p.exitValue() + ": " + s.trim());
        }
        return s;
    }
}
