package dev.dmsg.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dmsg trust add|list|remove}: the trust store {@code DATA/trusted} (docs/SECURITY.md §2).
 * Safe while the node runs: the store is written atomically and a running node re-reads it
 * within about a second.
 */
@Command(name = "trust", mixinStandardHelpOptions = true,
    description = {"The peers a node trusts, pinned by key, in DATA/trusted (docs/SECURITY.md §2). "
        + "A running node sees changes within about a second.",
        "Exit 0 done; 1 refused (a name or key already trusted, no such name, unreadable key file or store); 2 usage."},
    subcommands = {TrustCommand.Add.class, TrustCommand.ListPeers.class, TrustCommand.Remove.class})
final class TrustCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
        description = {"Trusts a peer's key under NAME: the peer's node.crt, a PEM public key, or a fingerprint "
            + "(SHA256:..., as 'dmsg keygen --show' prints). NAME must be the label the peer runs with.",
            "Adding exactly what is there already changes nothing; a new key or role for a NAME takes 'trust remove' first."})
    static final class Add implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Parameters(index = "0", paramLabel = "NAME", description = "the peer's label: 1..63 of A-Z a-z 0-9 . _ -")
        String name;

        @Parameters(index = "1", paramLabel = "KEYFILE|FINGERPRINT")
        String key;

        @Option(names = "--role", paramLabel = "ROLE", defaultValue = "member",
            description = "admin, member or client (default: ${DEFAULT-VALUE}; docs/SECURITY.md §5)")
        String role;

        @Option(names = "--grant", paramLabel = "GRANT", split = ",",
            description = "for --role client: shell-ro, blk-read, blk-rw (comma-separated or repeated)")
        List<String> grant = new ArrayList<>();

        @Mixin
        DataDirOption where;

        @Override
        public Integer call() {
            Path dir = where.resolve(spec);
            Role r;
            int g;
            try {
                r = Role.parse(role);
                g = Grants.parse(String.join(",", grant));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            if (g != 0 && r != Role.CLIENT) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--grant is only for --role client, not "
                    + r.word() + " (admin and member may do what their role allows, docs/SECURITY.md §5)");
            }
            if (!TrustStore.isName(name)) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                    "bad NAME '" + name + "': 1.." + TrustStore.MAX_NAME_CHARS + " characters of A-Z a-z 0-9 . _ : -");
            }
            String fingerprint;
            try {
                fingerprint = fingerprint(key);
            } catch (IOException e) {
                System.err.println("dmsg trust add: " + e.getMessage());
                return 1;
            }
            try {
                TrustStore t = TrustStore.open(dir);
                PeerIdentity p = new PeerIdentity(name, fingerprint, r, g);
                if (t.add(name, fingerprint, r, g)) {
                    System.out.println("trusting " + p + " in " + t.file());
                } else {
                    System.out.println(p + " is trusted already in " + t.file() + "; nothing changed");
                }
                return 0;
            } catch (IOException | IllegalStateException | IllegalArgumentException e) {
                System.err.println("dmsg trust add: " + e.getMessage());
                return 1;
            }
        }

        /** A fingerprint as given, or the fingerprint of the key in the file {@code arg}. */
        static String fingerprint(String arg) throws IOException {
            if (Fingerprints.isFingerprint(arg)) {
                return arg;
            }
            Path f = Path.of(arg);
            if (arg.startsWith("SHA256:") && !Files.exists(f)) {
                throw new IOException("'" + arg + "' is not a whole fingerprint: SHA256: and 43 base64 characters, "
                    + "as 'dmsg keygen --show' prints");
            }
            if (!Files.isRegularFile(f)) {
                throw new IOException("'" + arg + "' is neither a fingerprint (SHA256:...) nor a file "
                    + "(a peer's node.crt or a PEM public key)");
            }
            return Fingerprints.of(NodeKeys.readPublicKey(f));
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
        description = "Lists the trusted peers: NAME, ROLE, GRANTS, FINGERPRINT, in the order of the file.")
    static final class ListPeers implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--json", description = "[{\"name\", \"role\", \"grants\": [...], \"fingerprint\"}, ...]")
        boolean json;

        @Mixin
        DataDirOption where;

        @Override
        public Integer call() {
            Path dir = where.resolve(spec);
            List<PeerIdentity> peers;
            try {
                peers = TrustStore.open(dir).list();
            } catch (IOException e) {
                System.err.println("dmsg trust list: " + e.getMessage());
                return 1;
            }
            if (json) {
                ObjectMapper m = new ObjectMapper();
                ArrayNode a = m.createArrayNode();
                for (PeerIdentity p : peers) {
                    ObjectNode o = a.addObject().put("name", p.name()).put("role", p.role().word());
                    ArrayNode gs = o.putArray("grants");
                    if (p.grants() != 0) {
                        for (String w : Grants.format(p.grants()).split(",")) {
                            gs.add(w);
                        }
                    }
                    o.put("fingerprint", p.fingerprint());
                }
                System.out.println(a.toPrettyString());
                return 0;
            }
            if (peers.isEmpty()) {
                System.out.println("no peers trusted in " + dir.resolve(TrustStore.FILE));
                return 0;
            }
            int nameWidth = "NAME".length();
            int grantsWidth = "GRANTS".length();
            for (PeerIdentity p : peers) {
                nameWidth = Math.max(nameWidth, p.name().length());
                grantsWidth = Math.max(grantsWidth, Grants.format(p.grants()).length());
            }
            String row = "%-" + nameWidth + "s  %-6s  %-" + grantsWidth + "s  %s%n";
            System.out.printf(row, "NAME", "ROLE", "GRANTS", "FINGERPRINT");
            for (PeerIdentity p : peers) {
                System.out.printf(row, p.name(), p.role().word(), Grants.format(p.grants()), p.fingerprint());
            }
            return 0;
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
        description = "Stops trusting NAME (its line goes; every other line of the file stays). Exit 1 if NAME is not trusted.")
    static final class Remove implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Parameters(paramLabel = "NAME")
        String name;

        @Mixin
        DataDirOption where;

        @Override
        public Integer call() {
            Path dir = where.resolve(spec);
            try {
                TrustStore t = TrustStore.open(dir);
                PeerIdentity p = t.byName(name);
                if (!t.remove(name)) {
                    System.err.println("dmsg trust remove: '" + name + "' is not trusted in " + t.file());
                    return 1;
                }
                System.out.println("no longer trusting " + (p != null ? p : "'" + name + "'") + " in " + t.file());
                return 0;
            } catch (IOException e) {
                System.err.println("dmsg trust remove: " + e.getMessage());
                return 1;
            }
        }
    }
}
