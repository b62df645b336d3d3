package dev.dmsg.cli;

import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.services.blk.MeshDisk;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.nbd.NbdCertificates;
import dev.dmsg.services.nbd.NbdServer;
import dev.dmsg.services.nbd.NbdTls;
import dev.dmsg.services.nbd.UnixSocketFile;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.wire.Dmsg;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.List;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code dmsg nbd}: an export of the mesh served to NBD clients on this host (docs/BLK.md "dmsg
 * nbd"). Joins the mesh through {@code --node} as a {@link GuestNode}, opens the export as a
 * {@link RemoteBlockDevice} ({@link MeshDisk}) and serves it with {@link NbdServer} until
 * SIGINT/SIGTERM. Every failure to start is one line on stderr and exit 1 (2: usage).
 */
@Command(name = "nbd", mixinStandardHelpOptions = true,
    subcommands = {NbdCommand.TlsInit.class, NbdCommand.TlsClient.class},
    description = {"Serves a BLK export of the mesh to NBD clients (qemu-img, nbdcopy, nbdinfo, fio, qemu): joins "
        + "the mesh through --node, opens the export over a circuit (failing over to another path when one is "
        + "lost), and listens for NBD on --listen until SIGINT/SIGTERM.",
        "Prints where it serves and the URI for clients (nbd://, nbds:// with --tls require, nbd+unix:// on a Unix "
            + "socket); failover events go to stderr. Exit 1 if the node cannot be reached, refuses our key, has no "
            + "such export, or --listen cannot be bound.",
        "Who may connect: a Unix socket (--listen unix:PATH, mode 0600) limits it to local users the file "
            + "permissions allow; --tls require admits only clients whose key is pinned in TLSDIR/trusted "
            + "(dmsg nbd tls-init / tls-client). Plaintext TCP is refused on anything but loopback unless "
            + "--insecure-plaintext. docs/BLK.md \"Hardening\"."})
final class NbdCommand extends AdminCommands.NodeOption implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger("dmsg.nbd");

    /**
     * Calls waiting in the device behind the 64 requests in flight. The NBD server bounds what its
     * connections hold (64 requests and 64 MiB each), and the device admits a call whole (a 32 MiB
     * read is one entry; a trim of any length is one entry carved into 64 KiB requests as the
     * window allows), so the device's default never refuses what they send.
     */
    static final int MAX_QUEUED = RemoteBlockDevice.Options.defaults().maxQueued();

    @Spec
    CommandSpec spec;

    // not required=true: the tls-* subcommands have no export; checked in call()
    @Option(names = "--export", paramLabel = "NAME",
        description = "the export: NODE/NAME, NAME when only one node exports it, or its serial (required)")
    String export;

    @Option(names = "--listen", paramLabel = "HOST:PORT|unix:PATH", defaultValue = "127.0.0.1:10809",
        description = "where NBD clients connect: TCP (port 0: any free port), or a Unix socket at PATH "
            + "(default: ${DEFAULT-VALUE})")
    String listen;

    @Option(names = "--socket-mode", paramLabel = "OCTAL", defaultValue = "600",
        description = "permissions of the Unix socket (default: ${DEFAULT-VALUE}: this user only; 660 with "
            + "--socket-group for a group)")
    String socketMode;

    @Option(names = "--socket-group", paramLabel = "GROUP", description = "group of the Unix socket")
    String socketGroup;

    @Option(names = "--tls", paramLabel = "off|require", defaultValue = "off",
        description = "require TLS (NBD_OPT_STARTTLS) with a client certificate pinned in TLSDIR/trusted; clients "
            + "that do not upgrade are refused (default: ${DEFAULT-VALUE})")
    String tls;

    @Option(names = "--tls-dir", paramLabel = "DIR",
        description = "server-cert.pem, server-key.pem and the trusted client keys ('dmsg nbd tls-init DIR')")
    Path tlsDir;

    @Option(names = "--insecure-plaintext",
        description = "allow plaintext TCP on an address other than loopback: anyone who reaches it can read and "
            + "write the export")
    boolean insecurePlaintext;

    @Option(names = "--max-connections", paramLabel = "N", defaultValue = "128",
        description = "NBD connections held at once (default: ${DEFAULT-VALUE})")
    int maxConnections;

    @Option(names = "--max-connections-per-client", paramLabel = "N", defaultValue = "16",
        description = "from one address, or one local user on a Unix socket (default: ${DEFAULT-VALUE})")
    int maxConnectionsPerClient;

    @Option(names = "--handshake-timeout", paramLabel = "DURATION", defaultValue = "10s", converter = Durations.class,
        description = "a client must have chosen an export by then (default: ${DEFAULT-VALUE})")
    Duration handshakeTimeout;

    @Option(names = "--stall-timeout", paramLabel = "DURATION", defaultValue = "30s", converter = Durations.class,
        description = "a client that takes none of its replies for this long is disconnected; 0: never "
            + "(default: ${DEFAULT-VALUE})")
    Duration stallTimeout;

    @Option(names = "--memory-budget", paramLabel = "SIZE", defaultValue = "128M", converter = BlkCommand.Sizes.class,
        description = "READ/WRITE payload all clients may hold at once; beyond it requests wait (default: "
            + "${DEFAULT-VALUE})")
    long memoryBudget;

    @Option(names = "--memory-budget-per-client", paramLabel = "SIZE", defaultValue = "64M",
        converter = BlkCommand.Sizes.class,
        description = "of that, one client's share; at least 32M, the largest request (default: ${DEFAULT-VALUE})")
    long memoryBudgetPerClient;

    @Option(names = "--read-only", description = "open the export read-only (NBD clients see a read-only disk)")
    boolean readOnly;

    @Option(names = "--failover-wait", paramLabel = "DURATION", defaultValue = "30s", converter = Durations.class,
        description = "how long I/O waits for another path when the circuit is lost before it fails "
            + "(default: ${DEFAULT-VALUE})")
    Duration failoverWait;

    @Option(names = "--tls-provider", paramLabel = "JDK|OPENSSL|AUTO", defaultValue = "AUTO",
        description = "TLS implementation for the mesh link (default: ${DEFAULT-VALUE})")
    TlsConfig.Provider tlsProvider;

    @Option(names = {"-v", "--verbose"}, description = "log the mesh side too (the guest node's links, spans, circuits)")
    boolean verbose;

    private final CountDownLatch stopped = new CountDownLatch(1);

    /** Where to listen, checked before anything starts: a Unix socket, or TCP. */
    private record Listen(HostPort tcp, UnixSocketFile unix) {}

    private Listen parseListen() {
        if (listen.startsWith("unix:")) {
            String path = listen.substring("unix:".length());
            if (path.isEmpty()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--listen unix:PATH needs a path");
            }
            try {
                return new Listen(null, new UnixSocketFile(Path.of(path), UnixSocketFile.parseMode(socketMode),
                    socketGroup));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
        }
        try {
            return new Listen(HostPort.parse(listen), null);
        } catch (CommandLine.TypeConversionException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--listen: " + e.getMessage()
                + " (or unix:PATH)");
        }
    }

    @Override
    public Integer call() throws Exception {
        if (export == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--export=NAME'");
        }
        Listen where = parseListen();
        boolean tlsRequired = switch (tls) {
            case "off" -> false;
            case "require" -> true;
            default -> throw new CommandLine.ParameterException(spec.commandLine(),
                "--tls: 'off' or 'require', not '" + tls + "'");
        };
        if (tlsRequired && tlsDir == null) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                "--tls require needs --tls-dir DIR (make one with 'dmsg nbd tls-init DIR')");
        }
        if (!tlsRequired && where.tcp() != null && !insecurePlaintext && !isLoopback(where.tcp().host())) {
            return fail("refusing plaintext NBD on " + where.tcp() + ": anyone who reaches it could read and write "
                + "the export; use --tls require --tls-dir DIR, a Unix socket (--listen unix:PATH), or "
                + "--insecure-plaintext to insist");
        }
        NbdTls nbdTls = null;
        if (tlsRequired) {
            try {
                nbdTls = NbdTls.fromDirectory(tlsDir, NbdTls.Provider.JDK);
            } catch (IOException e) {
                return fail(e.getMessage());
            }
        }
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
        if (!readOnly) { // under dmsg lock: writes carry its token; present it first (docs/CAC.md §6)
            try {
                long token = BlkCommand.fenceToken();
                if (token != 0) {
                    disk.device().fence(token);
                    disk.device().flush().get(30, TimeUnit.SECONDS);
                }
            } catch (Exception e) {
                disk.close();
                guest.close();
                return fail("fencing token: " + BlkCommand.unwrap(e).getMessage());
            }
        }
        disk.device().onFailover(line -> System.err.println("dmsg nbd: " + line));
        String name = disk.export().name();
        NbdServer server;
        try {
            // on the guest's one event loop: a request goes from its NBD connection to the link without
            // waking another thread (docs/BENCHMARKS.md "Block devices": QD1 121 -> 84 us p50)
            NbdServer.Builder b = NbdServer.builder().export(name, disk.device()).eventLoopGroup(guest.eventLoops())
                .maxConnections(maxConnections).maxConnectionsPerClient(maxConnectionsPerClient)
                .handshakeTimeout(handshakeTimeout).stallTimeout(stallTimeout)
                .memoryBudget(memoryBudget, memoryBudgetPerClient).tls(nbdTls);
            server = where.unix() != null ? b.bindUnix(where.unix()) : b.bind(where.tcp().host(), where.tcp().port());
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
            log.info("stopped{}; NBD: {}", f.failovers() == 0 ? "" : " (" + f.failovers() + " failover(s), longest pause "
                + f.maxPauseMillis() + " ms)", server.stats().describe());
            stopped.countDown();
        }, "shutdown"));
        String on;
        String uri;
        if (server.socketPath() != null) {
            on = "unix:" + server.socketPath();
            uri = (tlsRequired ? "nbds+unix" : "nbd+unix") + ":///" + name + "?socket=" + server.socketPath();
        } else {
            String host = server.localAddress().getAddress().getHostAddress();
            on = (host.contains(":") ? "[" + host + "]" : host) + ":" + server.localAddress().getPort();
            uri = (tlsRequired ? "nbds" : "nbd") + "://" + on + "/" + name;
        }
        System.out.println("dmsg nbd: serving " + disk.export().label() + " (" + disk.device().sizeBytes() + " bytes, "
            + (readOnly ? "read-only" : "read-write") + ") on " + on + ": " + uri);
        if (tlsRequired) {
            System.out.println("dmsg nbd: TLS required; clients pinned in " + tlsDir.resolve("trusted")
                + " ('dmsg nbd tls-client " + tlsDir + " NAME' makes one): " + uri
                + (uri.contains("?") ? "&" : "?") + "tls-certificates=" + tlsDir.resolve("clients/NAME")
                + " (libnbd), --object tls-creds-x509,id=tls0,endpoint=client,dir=" + tlsDir.resolve("clients/NAME")
                + " (qemu)");
        }
        System.out.flush();
        stopped.await();
        return 0;
    }

    private static int fail(String why) {
        System.err.println("dmsg nbd: " + why);
        return 1;
    }

    /** A loopback address (127/8, ::1, localhost), without resolving anything else. */
    static boolean isLoopback(String host) {
        if (host.equals("localhost")) {
            return true;
        }
        if (!host.matches("[0-9.]+") && !host.contains(":")) {
            return false; // a name: treated as not loopback rather than resolved here
        }
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (IOException e) {
            return false;
        }
    }

    /** {@code dmsg nbd tls-init DIR}: the TLS directory for {@code --tls require} (docs/BLK.md "TLS"). */
    @Command(name = "tls-init", mixinStandardHelpOptions = true,
        description = {"Makes a TLS directory for 'dmsg nbd --tls require --tls-dir DIR': a CA (ca-cert.pem, "
            + "ca-key.pem) and the server's certificate (server-cert.pem, server-key.pem) for the names clients dial. "
            + "Never replaces existing files."})
    static final class TlsInit implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "DIR")
        Path dir;

        @Option(names = "--host", paramLabel = "NAME|ADDRESS",
            description = "a name or address clients dial (repeatable; default: localhost, 127.0.0.1, ::1 and this "
                + "host's name)")
        List<String> hosts;

        @Override
        public Integer call() {
            try {
                NbdCertificates.init(dir, hosts == null || hosts.isEmpty() ? NbdCertificates.defaultHosts() : hosts);
            } catch (IOException e) {
                return fail("tls-init " + dir + ": " + e.getMessage());
            }
            System.out.println("dmsg nbd: TLS directory " + dir + " made; add clients with 'dmsg nbd tls-client "
                + dir + " NAME', serve with --tls require --tls-dir " + dir);
            return 0;
        }
    }

    /** {@code dmsg nbd tls-client DIR NAME}: a client's certificate, pinned in DIR/trusted. */
    @Command(name = "tls-client", mixinStandardHelpOptions = true,
        description = {"Makes a client key and certificate in DIR/clients/NAME (ca-cert.pem, client-cert.pem, "
            + "client-key.pem: what libnbd's tls-certificates= and qemu's tls-creds-x509 dir= take) and pins its key "
            + "in DIR/trusted. A running 'dmsg nbd' admits it within a second; 'dmsg trust remove NAME --data-dir "
            + "DIR' revokes it."})
    static final class TlsClient implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "DIR")
        Path dir;

        @Parameters(index = "1", paramLabel = "NAME")
        String name;

        @Option(names = "--read-only", description = "the client may only read (grant blk-read instead of blk-rw)")
        boolean readOnly;

        @Override
        public Integer call() {
            Path clientDir;
            try {
                clientDir = NbdCertificates.addClient(dir, name, Role.CLIENT, readOnly ? Grants.BLK_READ : Grants.BLK_RW);
            } catch (IOException | IllegalArgumentException e) {
                return fail("tls-client " + name + ": " + e.getMessage());
            }
            System.out.println("dmsg nbd: client " + name + " (" + (readOnly ? "read-only" : "read-write")
                + "): its files are in " + clientDir);
            return 0;
        }
    }
}
