package dev.dmsg.cli;

import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.tls.CaIssuer;
import dev.dmsg.link.tls.CertProfile;
import dev.dmsg.link.tls.ClusterCa;
import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.JoinToken;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dmsg ca init|issuer|sign|token|revoke}: a cluster CA beside pinned keys
 * (docs/IDENTITY.md §2, docs/OPERATIONS.md "A cluster CA"). The root lives in {@code --ca-dir}
 * (meant to be kept offline); a node's CA files in {@code DATA/ca/}. Safe while nodes run: every
 * file is written whole and under a lock, and a running node takes a new revocation list within
 * a quarter of a second.
 */
@Command(name = "ca", mixinStandardHelpOptions = true,
    description = {"A cluster CA (docs/IDENTITY.md §2): nodes trusting it accept every certificate it signed, with the "
        + "role inside. Pinned keys stay, and win.",
        "Exit 0 done; 1 refused or failed (message on stderr); 2 usage."},
    subcommands = {CaCommand.Init.class, CaCommand.Issuer.class, CaCommand.Sign.class, CaCommand.Token.class,
        CaCommand.Revoke.class})
final class CaCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** {@code --ca-dir DIR}: where the root's key lives. */
    static class CaDirOption {
        @Option(names = "--ca-dir", paramLabel = "DIR", defaultValue = "dmsg-ca",
            description = "the CA's directory: ca.key (0600), ca.crt, crl.pem, issued (default: ${DEFAULT-VALUE}); keep "
                + "it offline")
        Path caDir;

        ClusterCa load() throws IOException {
            return ClusterCa.load(caDir, Clock.systemUTC());
        }
    }

    static Role role(CommandLine.Model.CommandSpec spec, String role, List<String> grant) {
        try {
            Role r = Role.parse(role);
            int g = Grants.parse(String.join(",", grant));
            if (g != 0 && r != Role.CLIENT) {
                throw new IllegalArgumentException("--grant is only for role client, not " + r.word());
            }
            return r;
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    /** The command's own lines are what matters: the link layer's INFO (lists adopted on install) is not. */
    static void quiet() {
        Logging.setLevel("dev.dmsg.link", "WARN");
    }

    /** {@code 1h}, {@code 90m}, {@code 2d}: a TTL as the operator wrote it. */
    static String human(Duration d) {
        if (d.toDays() > 0 && d.equals(Duration.ofDays(d.toDays()))) {
            return d.toDays() + "d";
        }
        return d.toString().substring(2).toLowerCase(Locale.ROOT);
    }

    static int fail(String cmd, Exception e) {
        System.err.println("dmsg ca " + cmd + ": " + e.getMessage());
        return 1;
    }

    @Command(name = "init", mixinStandardHelpOptions = true,
        description = {"Makes the cluster's root CA: its key (ca.key, 0600) and self-signed certificate (ca.crt) in "
            + "--ca-dir, and an empty revocation list. Never replaces an existing CA. Keep the directory offline: it "
            + "is only needed to install issuers, sign nodes and revoke."})
    static final class Init extends CaDirOption implements Callable<Integer> {
        @Option(names = "--name", required = true, description = "the cluster's name (the root's CN)")
        String name;

        @Option(names = "--days", defaultValue = "3650", description = "validity (default: ${DEFAULT-VALUE})")
        int days;

        @Override
        public Integer call() {
            quiet();
            try {
                ClusterCa ca = ClusterCa.init(caDir, name, Duration.ofDays(days), Clock.systemUTC());
                System.out.println("made the cluster CA '" + ca.name() + "' in " + caDir);
                System.out.println("  " + caDir.resolve(ClusterCa.KEY_FILE) + "  its key (mode 0600): keep it offline");
                System.out.println("fingerprint " + ca.fingerprint() + " (join tokens carry it)");
                System.out.println("next: dmsg ca issuer --ca-dir " + caDir + " --label NODE   (a node that admits others)");
                return 0;
            } catch (IOException | IllegalArgumentException e) {
                return fail("init", e);
            }
        }
    }

    @Command(name = "issuer", mixinStandardHelpOptions = true,
        description = {"Makes a node an issuer: a new key in its DATA/ca/issuer.key (0600), whose certificate the root "
            + "signs with a maximum role; the node then redeems join tokens (dmsg ca token) for nodes up to that role. "
            + "Also signs the node's own key (--role) if the CA has not, and installs the CA's certificate and list. "
            + "A running node takes it at its next start."})
    static final class Issuer extends CaDirOption implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        DataDirOption where;

        @Option(names = "--max-role", defaultValue = "member",
            description = "the most a node it admits may be: admin, member, client (default: ${DEFAULT-VALUE})")
        String maxRole;

        @Option(names = "--max-grant", split = ",", paramLabel = "GRANT",
            description = "with --max-role client: the grants it may give (shell-ro, blk-read, blk-rw, kv-read, kv-write, lock, lock-read)")
        List<String> maxGrant = new ArrayList<>();

        @Option(names = "--role", defaultValue = "member", description = "the node's own role (default: ${DEFAULT-VALUE})")
        String role;

        @Option(names = "--days", defaultValue = "365", description = "the issuer's validity (default: ${DEFAULT-VALUE})")
        int days;

        @Override
        public Integer call() {
            quiet();
            Path dir = where.resolve(spec);
            Role max = role(spec, maxRole, maxGrant);
            Role own = role(spec, role, List.of());
            try {
                ClusterCa ca = load();
                String label = labelOf(dir, where);
                NodeKeys k = NodeKeys.exists(dir) ? NodeKeys.load(dir) : null;
                if (k == null || !k.caSigned() || !signedBy(k, ca)) {
                    k = ca.signNode(dir, label, own, 0, CertProfile.NODE_VALIDITY);
                    System.out.println("signed '" + k.label() + "' (" + k.fingerprint() + ") as " + own.word() + " until "
                        + k.certificate().getNotAfter().toInstant());
                }
                X509Certificate c = ca.installIssuer(dir, k.label(), max, Grants.parse(String.join(",", maxGrant)),
                    Duration.ofDays(days));
                System.out.println("'" + k.label() + "' is an issuer of cluster '" + ca.name() + "': maximum "
                    + CertProfile.claim(c).describe() + ", until " + c.getNotAfter().toInstant());
                System.out.println("next: dmsg ca token --data-dir " + dir + " --role member --ttl 1h   (one per new node)");
                return 0;
            } catch (IOException | IllegalArgumentException e) {
                return fail("issuer", e);
            }
        }
    }

    @Command(name = "sign", mixinStandardHelpOptions = true,
        description = {"Signs a node's key (made first if it has none) with the root: a certificate with its label as CN "
            + "and its role and grants inside; node.crt becomes the chain, and the CA's certificate and list go into "
            + "DATA/ca/. The key, and so the fingerprint pins know, stay. A running node presents it from its next start."})
    static final class Sign extends CaDirOption implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        DataDirOption where;

        @Option(names = "--role", defaultValue = "member", description = "admin, member or client (default: ${DEFAULT-VALUE})")
        String role;

        @Option(names = "--grant", split = ",", paramLabel = "GRANT", description = "for role client: shell-ro, blk-read, blk-rw, kv-read, kv-write")
        List<String> grant = new ArrayList<>();

        @Option(names = "--days", defaultValue = "365", description = "validity (default: ${DEFAULT-VALUE})")
        int days;

        @Override
        public Integer call() {
            quiet();
            Path dir = where.resolve(spec);
            Role r = role(spec, role, grant);
            try {
                ClusterCa ca = load();
                NodeKeys k = ca.signNode(dir, labelOf(dir, where), r, Grants.parse(String.join(",", grant)),
                    Duration.ofDays(days));
                System.out.println("signed '" + k.label() + "' (" + k.fingerprint() + ") as "
                    + CertProfile.claim(k.certificate()).describe() + " until " + k.certificate().getNotAfter().toInstant()
                    + "; it trusts cluster '" + ca.name() + "' from its next start");
                return 0;
            } catch (IOException | IllegalArgumentException e) {
                return fail("sign", e);
            }
        }
    }

    @Command(name = "token", mixinStandardHelpOptions = true,
        description = {"Makes one-use, expiring join tokens on an issuer node (run where its data directory is; the "
            + "running node sees them at once). Each prints as dmsgjoin1.ID.SECRET.CA: hand one to a new machine, which "
            + "runs: dmsg node --join TOKEN@HOST:PORT --label NAME. Only a hash of the secret is kept."})
    static final class Token implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        DataDirOption where;

        @Option(names = "--role", defaultValue = "member", description = "what the joining node becomes (default: ${DEFAULT-VALUE})")
        String role;

        @Option(names = "--grant", split = ",", paramLabel = "GRANT", description = "for role client: shell-ro, blk-read, blk-rw, kv-read, kv-write")
        List<String> grant = new ArrayList<>();

        @Option(names = "--ttl", defaultValue = "1h", converter = Durations.class,
            description = "how long the token is good for, at most 7d (default: ${DEFAULT-VALUE})")
        Duration ttl;

        @Option(names = "--count", defaultValue = "1", description = "how many tokens (default: ${DEFAULT-VALUE})")
        int count;

        @Override
        public Integer call() {
            quiet();
            Path dir = where.resolve(spec);
            Role r = role(spec, role, grant);
            try (CaIssuer issuer = CaIssuer.open(dir, Clock.systemUTC(), () -> null, Set.of(), LogLimiter.perMinute())) {
                List<JoinToken> made = issuer.createTokens(r, Grants.parse(String.join(",", grant)), ttl, count);
                for (JoinToken t : made) {
                    System.out.println(t.format());
                }
                System.err.println("dmsg ca token: " + made.size() + " token(s) for role " + r.word() + ", one use each, "
                    + "valid " + human(ttl) + "; on a new machine: dmsg node --join TOKEN@HOST:PORT --label NAME");
                return 0;
            } catch (IOException | IllegalArgumentException e) {
                return fail("token", e);
            }
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
        description = {"Revokes a node's key: a new revocation list, signed by the root, in --ca-dir/crl.pem; installed "
            + "into each node given with --data-dir/--label, which takes it within a quarter of a second, closes the "
            + "revoked node's links, and passes the list on to its peers (LNK_CRL), which do the same.",
            "WHO is a fingerprint (SHA256:...), a node's certificate file, or a name found in the CA's log of what it "
                + "signed or in a given issuer node's (DATA/ca/issued)."})
    static final class Revoke extends CaDirOption implements Callable<Integer> {
        @Parameters(paramLabel = "WHO")
        String who;

        @Option(names = "--data-dir", paramLabel = "DIR", description = "a node to install the list into (repeatable)")
        List<Path> dataDirs = new ArrayList<>();

        @Option(names = "--label", paramLabel = "NAME", description = "the node dmsg-data/NAME (repeatable)")
        List<String> labels = new ArrayList<>();

        @Override
        public Integer call() {
            quiet();
            List<Path> nodes = new ArrayList<>(dataDirs);
            labels.forEach(l -> nodes.add(DataDirOption.defaultDir(l)));
            try {
                ClusterCa ca = load();
                String target = who;
                Path f = Path.of(who);
                if (!Fingerprints.isFingerprint(who) && Files.isRegularFile(f)) {
                    target = Fingerprints.of(NodeKeys.readPublicKey(f));
                }
                List<Path> logs = new ArrayList<>();
                for (Path n : nodes) {
                    Path log = n.resolve(ClusterCa.NODE_DIR).resolve("issued");
                    if (Files.exists(log)) {
                        logs.add(log);
                    }
                }
                List<ClusterCa.Revoked> keys = ca.resolve(target, logs);
                byte[] list = ca.revoke(keys);
                byte[] current = list != null ? list : ca.crl();
                for (ClusterCa.Revoked r : keys) {
                    System.out.println((list != null ? "revoked " : "already revoked: ") + r.name() + " " + r.fingerprint());
                }
                System.out.println("revocation list " + ca.crlNumber() + " in " + caDir.resolve(ClusterCa.CRL_FILE));
                for (Path n : nodes) {
                    boolean newer = ca.installCrl(n, current);
                    System.out.println((newer ? "installed into " : "already in ") + n.resolve(ClusterCa.NODE_DIR)
                        .resolve(ClusterCa.CRL_FILE));
                }
                if (nodes.isEmpty()) {
                    System.out.println("install it on any node of the cluster (--data-dir), or copy it to DATA/ca/crl.pem "
                        + "there: the nodes pass it on to each other");
                }
                return 0;
            } catch (IOException | IllegalArgumentException e) {
                return fail("revoke", e);
            }
        }
    }

    /** The label for a node's new key: --label, else the directory's name. */
    static String labelOf(Path dir, DataDirOption where) {
        if (where.label != null) {
            return where.label;
        }
        Path base = dir.toAbsolutePath().normalize().getFileName();
        return base != null ? base.toString() : "node";
    }

    private static boolean signedBy(NodeKeys k, ClusterCa ca) {
        X509Certificate last = k.issuers().get(k.issuers().size() - 1);
        return last.getPublicKey().equals(ca.certificate().getPublicKey());
    }
}
