package dev.dmsg.cli;

import static dev.dmsg.cli.DemoNarrator.indent;
import static dev.dmsg.cli.WriterProcess.fields;
import static dev.dmsg.cli.WriterProcess.why;

import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.cac.CacheLocks;
import dev.dmsg.services.cac.LockHandle;
import dev.dmsg.services.cac.LockListing;
import dev.dmsg.services.node.Node;
import dev.dmsg.wire.BlkError;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Part six of {@code dmsg demo}: two writers share a disk through an exclusive lock, and fencing
 * makes the one that froze harmless (docs/CAC.md §3, §6). l1..l3 are a quorum group; s1 exports a
 * disk image fenced by the lock {@code /demo/disk}; a and b want to write it. a takes the lock and
 * writes; then a is frozen with a real SIGSTOP — it is a process of its own ({@link DemoWriter},
 * driven over its stdin by {@link WriterProcess}) — so it cannot answer the downgrade b's request
 * causes; after a's lease the leader takes the lock away and grants it to b with a newer token; b
 * presents it and writes. a, resumed, makes the write it was about to make with its old token,
 * and s1 refuses it with FENCED: b's data stays.
 */
final class DemoLocks {
    static final Duration T = Duration.ofSeconds(20);
    /** Short, so the demo stays quick; the default is 10 s (docs/CAC.md §2). */
    static final Duration LEASE = Duration.ofSeconds(3);
    static final String KEY = "/demo/disk";
    static final String A_TEXT = "a was here";
    static final String LATE_TEXT = "a, late";
    static final String B_TEXT = "b owns the disk now";

    private final DemoNarrator narrator;
    private final PrintStream out;

    DemoLocks(DemoNarrator narrator) {
        this.narrator = narrator;
        this.out = narrator.out;
    }

    private void say(String who, String fmt, Object... args) {
        narrator.say(who, fmt, args);
    }

    int run(Path dir) throws Exception {
        Logging.setLevel("dev.dmsg.services.blk", "ERROR"); // s1's log line for the refusal: the narration says it
        out.println("Part six: a lock and a fence. l1, l2, l3 are group 'locks'; s1 exports disk0 fenced by the lock "
            + KEY + "; a and b both want to write it, and a runs in a process of its own.");
        out.println();
        Path image = dir.resolve("s1-disk0.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        List<Node> nodes = new ArrayList<>();
        GroupSpec group = GroupSpec.parse("locks=l1,l2,l3");
        WriterProcess a = null;
        try {
            for (String label : List.of("l1", "l2", "l3", "s1", "b")) {
                var s = Node.Settings.of("127.0.0.1", 0, dir.resolve(label), Node.Identity.of(label, "demo"));
                nodes.add(Node.start(label.startsWith("l") ? s.toBuilder().quorums(List.of(group)).build()
                    : label.equals("s1") ? s.withExports(List.of(Node.Export.of("disk0", image).withAllow("a", "b")
                        .withFence(KEY))) : s));
            }
            Node s1 = nodes.get(3);
            Node b = nodes.get(4);
            for (int i = 0; i < nodes.size(); i++) {
                for (int j = i + 1; j < nodes.size(); j++) {
                    Node.trustEachOther(nodes.get(i), nodes.get(j), Role.MEMBER);
                }
            }
            for (int[] link : new int[][] {{1, 0}, {2, 0}, {2, 1}, {3, 0}, {4, 1}}) { // l1-l2-l3 meshed, s1-l1, b-l2
                nodes.get(link[0]).shell().execute("span 127.0.0.1:" + nodes.get(link[1]).address().getPort());
            }
            // a's identity, as `dmsg keygen` and `dmsg trust add` would make it; it joins through l3
            Path aDir = dir.resolve("a");
            NodeKeys aKeys = NodeKeys.loadOrCreate(aDir, "a");
            TrustStore aTrust = TrustStore.open(aDir);
            for (Node n : nodes) {
                aTrust.add(n.keys().label(), n.keys().fingerprint(), Role.MEMBER, 0);
                n.trust().add("a", aKeys.fingerprint(), Role.MEMBER, 0);
            }
            long t0 = System.nanoTime();
            a = WriterProcess.start(dir.resolve("a.log"), "--node", "127.0.0.1:" + nodes.get(2).address().getPort(),
                "--identity", aDir.toString(), "--group", "locks", "--lock", KEY, "--export", "s1/disk0",
                "--lease", LEASE.toMillis() + "ms");
            String leader = DemoQuorum.awaitLeader(nodes.subList(0, 3), "locks", null);
            say("demo", "l1..l3 elected %s leader of 'locks' in %d ms", leader,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            say("s1", "exports disk0 fenced by %s: each write must carry a token of that lock, and s1 refuses one "
                + "older than the newest it has seen (docs/CAC.md §6)", KEY);
            RemoteBlockDevice bDisk = BlkClient.find(b.mesh(), "s1/disk0", T)
                .thenCompose(x -> BlkClient.open(b.mesh(), x, true, RemoteBlockDevice.Options.defaults()))
                .get(T.toSeconds(), TimeUnit.SECONDS);
            try (bDisk; CacheLocks bLocks = new CacheLocks(b.mesh(), b.endpoint()::links, "locks", T, 2)) {
                a.await("READY");
                say("a", "is a JVM of its own (pid %d, started as `dmsg demo writer`): it joined the mesh through l3, "
                    + "opened s1/disk0, and does what its stdin says", a.pid());
                var granted = a.ask("lock", "GRANTED");
                long aToken = Long.parseLong(granted.get("token"));
                say("a", "holds EXCLUSIVE on %s: lock %s, fencing token %d, lease %d ms; showed s1 the token with a FLUSH",
                    KEY, granted.get("lock"), aToken, LEASE.toMillis());
                a.ask("write " + A_TEXT, "WROTE");
                say("a", "wrote \"%s\" at offset 0 with token %d: accepted", A_TEXT, aToken);

                out.println();
                a.signal("STOP");
                long frozenAt = System.nanoTime();
                say("demo", "a is frozen: kill -STOP %d (its state in /proc: %s). A GC pause, a stalled VM: its link "
                    + "stays up (the kernel still ACKs), it just does not answer", a.pid(), a.awaitStopped());
                long askedAt = System.nanoTime();
                LockHandle bLock = bLocks.request(KEY, CacDomain.TREE, CacState.EXCLUSIVE,
                    CacheLocks.Options.defaults().withLease(LEASE)).get(T.toSeconds(), TimeUnit.SECONDS);
                long behind = bLock.waiting().get(T.toSeconds(), TimeUnit.SECONDS);
                say("b", "asks for EXCLUSIVE on %s: WAITING behind lock %d, a's; a's home asks a to DOWNGRADE to "
                    + "inval. `dmsg lock ls /demo`:", KEY, behind);
                out.print(indent(LockListing.render(LockCommand.JSON.readTree(
                    bLocks.list("/demo").get(T.toSeconds(), TimeUnit.SECONDS)))));
                say("b", "waits: a cannot answer, so the leader counts a's lease of %d ms", LEASE.toMillis());
                bLock.granted().get(T.toSeconds(), TimeUnit.SECONDS);
                long bToken = bLock.token();
                say("b", "GRANTED after %d ms: the lease passed, the leader took a's lock away (EXPIRE); b's token %d is "
                    + "newer than a's %d", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - askedAt), bToken, aToken);
                bDisk.fence(bToken);
                bDisk.flush().get(T.toSeconds(), TimeUnit.SECONDS);
                say("b", "presents token %d to s1 with a FLUSH: from now on s1 refuses anything older", bToken);
                bDisk.write(0, DemoWriter.block(B_TEXT), true).get(T.toSeconds(), TimeUnit.SECONDS);
                say("b", "wrote \"%s\" at offset 0, with FUA: accepted", B_TEXT);

                out.println();
                a.send("write " + LATE_TEXT); // waits in the pipe: the first thing a reads when it runs again
                a.signal("CONT");
                say("demo", "a is resumed (kill -CONT, %.1f s frozen) and makes the write it was about to make: "
                    + "\"%s\", with its old token %d", (System.nanoTime() - frozenAt) / 1e9, LATE_TEXT, aToken);
                String late = a.await("REFUSED", "WROTE");
                if (late.startsWith("WROTE")) {
                    say("a", "its late write was ACCEPTED: the fence did not hold");
                    return 1;
                }
                say("a", "its write comes back %s, s1's reason: \"%s\"", fields(late).get("error"), serverReason(why(late)));
                String lost = a.await("LOST");
                List<String> downgrades = a.skipped().stream().filter(l -> l.startsWith("DOWNGRADE")).toList();
                say("a", "reads what its home sent while it was frozen: %s, then the end of its lock, %s: %s",
                    downgrades.isEmpty() ? "no DOWNGRADE" : "DOWNGRADE to " + fields(downgrades.get(0)).get("to"),
                    fields(lost).get("error"), why(lost));

                ByteBuf back = bDisk.read(0, 4096).get(T.toSeconds(), TimeUnit.SECONDS);
                byte[] got = ByteBufUtil.getBytes(back);
                back.release();
                byte[] want = ByteBufUtil.getBytes(DemoWriter.block(B_TEXT));
                byte[] onFile = new byte[4096];
                try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
                    f.readFully(onFile);
                }
                boolean intact = Arrays.equals(got, want) && Arrays.equals(onFile, want);
                say("b", "reads offset 0 back: \"%s\" — %s", text(got), intact
                    ? "b's data, intact; s1's image file holds the same" : "NOT b's data");
                var e = s1.status().get("exports").get(0);
                say("s1", "`status`: disk0 took %d writes and %d flushes, refused %d", e.get("writes").asLong(),
                    e.get("flushes").asLong(), e.get("refused").asLong());
                if (!intact || bToken <= aToken) {
                    return 1;
                }
                bLock.release().get(T.toSeconds(), TimeUnit.SECONDS);
            }
            out.println();
            say("demo", "from a shell: `dmsg lock %s --lease 3s -- dmsg blk cp FILE mesh:s1/disk0` writes under the lock, "
                + "with its token (docs/CAC.md §6, §8)", KEY);
            return 0;
        } finally {
            if (a != null) {
                a.close();
            }
            for (var n : nodes) {
                n.close();
            }
        }
    }

    /**
     * The export's own reason at the end of a refused write's message ({@code export NAME: write at
     * OFFSET (N bytes): REASON}), with "…" when it filled the 63 bytes BLK_ERROR carries.
     */
    static String serverReason(String message) {
        int at = message.indexOf("bytes): ");
        String reason = at < 0 ? message : message.substring(at + "bytes): ".length());
        return reason.getBytes(StandardCharsets.UTF_8).length >= BlkError.BUF_BYTES - 1 ? reason.strip() + "…" : reason;
    }

    /** A block's text up to its first NUL. */
    static String text(byte[] block) {
        int n = 0;
        while (n < block.length && block[n] != 0) {
            n++;
        }
        return new String(block, 0, n, StandardCharsets.UTF_8);
    }
}
