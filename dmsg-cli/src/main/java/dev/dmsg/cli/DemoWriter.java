package dev.dmsg.cli;

import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.cac.CacheLocks;
import dev.dmsg.services.cac.LockHandle;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.wire.ErrorCode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg demo writer}: the writer of part six of the demo ({@link DemoLocks}) that gets
 * frozen, in a process of its own so that SIGSTOP freezes it and nothing else. It joins the mesh
 * as a guest, opens a fenced export, and then does only what its stdin says, one command a line,
 * answering each on stdout with one line:
 *
 * <pre>
 * (start)         READY export=LABEL
 * lock            GRANTED token=T lock=ID lease=MS        takes the lock; its writes carry T from now on
 * write TEXT      WROTE token=T                           TEXT in block 0, lock or no lock
 *                 REFUSED error=NAME(0xNN) token=T why=…
 * (end of stdin)  leaves the mesh and exits 0
 * </pre>
 *
 * What the lock's home says on its own comes as {@code DOWNGRADE to=STATE} (never answered: this
 * writer plays a holder that is paused, or buggy) and {@code LOST error=NAME why=…}; a command that
 * fails as {@code FAILED why}. Hidden: the demo drives it, never an operator.
 */
@Command(name = "writer", hidden = true, description = "The demo's part six writer process (driven over stdin).")
final class DemoWriter extends GuestOptions implements Callable<Integer> {
    @Option(names = "--group", required = true)
    String group;

    @Option(names = "--lock", required = true, paramLabel = "KEY")
    String key;

    @Option(names = "--export", required = true, paramLabel = "NODE/NAME")
    String export;

    @Option(names = "--lease", converter = Durations.class, defaultValue = "3s")
    Duration lease;

    private static final Duration WAIT = Duration.ofSeconds(20);
    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        try (GuestNode g = join("demo", WAIT);
             CacheLocks locks = new CacheLocks(g.mesh(), g.node().endpoint()::links, group, WAIT,
                 ProcessHandle.current().pid());
             RemoteBlockDevice disk = BlkClient.find(g.mesh(), export, WAIT)
                 .thenCompose(x -> BlkClient.open(g.mesh(), x, true, RemoteBlockDevice.Options.defaults()))
                 .get(WAIT.toSeconds() + 10, TimeUnit.SECONDS)) {
            tell("READY export=" + export);
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            LockHandle held = null;
            for (String line; (line = in.readLine()) != null; ) {
                try {
                    if (line.equals("lock")) {
                        held = lock(locks, disk);
                    } else if (line.startsWith("write ")) {
                        write(disk, held, line.substring(6));
                    } else {
                        tell("FAILED unknown command '" + line + "'");
                    }
                } catch (Exception e) {
                    tell("FAILED " + BlkCommand.unwrap(e));
                }
            }
            return 0;
        }
    }

    private LockHandle lock(CacheLocks locks, RemoteBlockDevice disk) throws Exception {
        LockHandle h = locks.acquire(key, CacDomain.TREE, CacState.EXCLUSIVE,
            CacheLocks.Options.defaults().withLease(lease)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        h.onDowngradeRequested(to -> tell("DOWNGRADE to=" + to.word()));
        h.lost().thenAccept(why -> tell("LOST error=" + ErrorCode.nameOf(why.error()) + " why=" + why.getMessage()));
        disk.fence(h.token());
        disk.flush().get(WAIT.toSeconds(), TimeUnit.SECONDS); // presents the token (docs/CAC.md §6)
        tell("GRANTED token=" + h.token() + " lock=" + h.id() + " lease=" + lease.toMillis());
        return h;
    }

    /** Writes whether or not the lock is still held: this is the holder fencing protects against. */
    private void write(RemoteBlockDevice disk, LockHandle held, String text) throws Exception {
        long token = held == null ? 0 : held.token();
        try {
            disk.write(0, block(text), false).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            tell("WROTE token=" + token);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof BlockException b)) {
                throw e;
            }
            tell("REFUSED error=" + ErrorCode.nameOf(b.error()) + " token=" + token + " why=" + b.getMessage());
        }
    }

    /** One 4 KiB block holding {@code text}, zero-padded. */
    static ByteBuf block(String text) {
        byte[] b = new byte[4096];
        byte[] t = text.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(t, 0, b, 0, Math.min(t.length, b.length));
        return Unpooled.wrappedBuffer(b);
    }

    private void tell(String line) {
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }
}
