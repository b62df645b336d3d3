package dev.dmsg.cli;

import dev.dmsg.services.blk.BlockException;
import dev.dmsg.services.blk.MeshDisk;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.nbd.NbdServer;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.wire.Dmsg;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg nbd}: an export of the mesh served to NBD clients on this host (docs/BLK.md "dmsg
 * nbd"). Joins the mesh through {@code --node} as a {@link GuestNode}, opens the export as a
 * {@link RemoteBlockDevice} ({@link MeshDisk}) and serves it with {@link NbdServer} until
 * SIGINT/SIGTERM. Every failure to start is one line on stderr and exit 1 (2: usage).
 */
@Command(name = "nbd", mixinStandardHelpOptions = true,
    description = {"Serves a BLK export of the mesh to NBD clients (qemu-img, nbdcopy, nbdinfo, fio, qemu): joins "
        + "the mesh through --node, opens the export over a circuit (failing over to another path when one is "
        + "lost), and listens for NBD on --listen until SIGINT/SIGTERM.",
        "Prints where it serves and the nbd:// URI; failover events go to stderr. Exit 1 if the node cannot be "
            + "reached, refuses our key, has no such export, or --listen cannot be bound."})
final class NbdCommand extends AdminCommands.NodeOption implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger("dmsg.nbd");

    /**
     * Calls waiting in the device behind the 64 requests in flight. The NBD server bounds what its
     * connections hold (64 requests and 64 MiB each), and the device admits a call whole (a 32 MiB
     * read is one entry; a trim of any length is one entry carved into 64 KiB requests as the
     * window allows), so the device's default never refuses what they send.
     */
    static final int MAX_QUEUED = RemoteBlockDevice.Options.defaults().maxQueued();

    @Option(names = "--export", required = true, paramLabel = "NAME",
        description = "the export: NODE/NAME, NAME when only one node exports it, or its serial")
    String export;

    @Option(names = "--listen", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
        defaultValue = "127.0.0.1:10809",
        description = "where NBD clients connect; NBD has no TLS here, so keep it on loopback or a trusted network "
            + "(default: ${DEFAULT-VALUE}; port 0: any free port)")
    HostPort listen;

    @Option(names = "--read-only", description = "open the export read-only (NBD clients see a read-only disk)")
    boolean readOnly;

    @Option(names = "--failover-wait", paramLabel = "DURATION", defaultValue = "30s", converter = Durations.class,
        description = "how long I/O waits for another path when the circuit is lost before it fails "
            + "(default: ${DEFAULT-VALUE})")
    Duration failoverWait;

    @Option(names = "--tls-provider", paramLabel = "JDK|OPENSSL|AUTO", defaultValue = "AUTO",
        description = "TLS implementation for the mesh link (default: ${DEFAULT-VALUE})")
    dev.dmsg.link.tls.TlsConfig.Provider tlsProvider;

    @Option(names = {"-v", "--verbose"}, description = "log the mesh side too (the guest node's links, spans, circuits)")
    boolean verbose;

    private final CountDownLatch stopped = new CountDownLatch(1);

    @Override
    public Integer call() throws Exception {
        if (!verbose) {
            Logging.setLevel("dmsg.node", "WARN");
            Logging.setLevel("dev.dmsg.link", "WARN");
            Logging.setLevel("dev.dmsg.mesh", "WARN");
        }
        // its failover lines come through onFailover below, printed once
        Logging.setLevel(RemoteBlockDevice.class.getName(), verbose ? "INFO" : "ERROR");

        Path id = null;
        if (!plaintext) {
            id = identity != null ? identity : AdminCommands.defaultIdentity();
            try {
                AdminCommands.identityKeys(id);
            } catch (IOException e) {
                return fail("identity " + id + ": " + e.getMessage());
            }
        }
        GuestNode guest;
        if (!verbose) {
            Logging.setLevel("dev.dmsg.link", "ERROR"); // a refused handshake is said once, by fail() below
        }
        try {
            guest = GuestNode.join("nbd", node.host(), node.port(), id, plaintext, tlsProvider);
        } catch (IOException e) {
            return fail(e.getMessage());
        } finally {
            if (!verbose) {
                Logging.setLevel("dev.dmsg.link", "WARN");
            }
        }
        MeshDisk disk;
        try {
            disk = MeshDisk.open(guest, export, !readOnly, new RemoteBlockDevice.Options(failoverWait,
                Duration.ofSeconds(5), 64, MAX_QUEUED));
        } catch (BlockException e) {
            guest.close();
            String hint = !readOnly && e.error() == Dmsg.ERR_PERM ? " (--read-only to open it for reading)" : "";
            return fail(e.getMessage() + hint);
        }
        disk.device().onFailover(line -> System.err.println("dmsg nbd: " + line));
        String name = disk.export().name();
        NbdServer server;
        try {
            // on the guest's one event loop: a request goes from its NBD connection to the link without
            // waking another thread (docs/BENCHMARKS.md "Block devices": QD1 121 -> 84 us p50)
            server = NbdServer.builder().export(name, disk.device()).eventLoopGroup(guest.eventLoops())
                .bind(listen.host(), listen.port());
        } catch (Exception e) { // BindException arrives undeclared from Netty
            disk.close();
            guest.close();
            return fail("cannot listen on " + listen + ": " + (e.getMessage() != null ? e.getMessage() : e));
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("stopping: closing NBD connections, the open of {}, and the link to {}", disk.export().label(), node);
            if (!verbose) {
                // the device closes its circuit right after the open's DELETE, so the exporting node's
                // answer to it arrives for a circuit we no longer know: a WARN (UNKNOWN_CIRCUIT), expected here
                Logging.setLevel("dev.dmsg.link", "ERROR");
            }
            server.close(); // answers what it had read, then disconnects the clients
            RemoteBlockDevice.FailoverStats f = disk.device().failoverStats();
            disk.close();
            guest.close();
            log.info("stopped{}", f.failovers() == 0 ? "" : " (" + f.failovers() + " failover(s), longest pause "
                + f.maxPauseMillis() + " ms)");
            stopped.countDown();
        }, "shutdown"));
        String host = server.localAddress().getAddress().getHostAddress();
        String hostPort = (host.contains(":") ? "[" + host + "]" : host) + ":" + server.localAddress().getPort();
        System.out.println("dmsg nbd: serving " + disk.export().label() + " (" + disk.device().sizeBytes() + " bytes, "
            + (readOnly ? "read-only" : "read-write") + ") on " + hostPort + ": nbd://" + hostPort + "/" + name);
        System.out.flush();
        stopped.await();
        return 0;
    }

    private static int fail(String why) {
        System.err.println("dmsg nbd: " + why);
        return 1;
    }
}
