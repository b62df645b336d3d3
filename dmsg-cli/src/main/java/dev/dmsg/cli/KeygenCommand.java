package dev.dmsg.cli;

import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.TrustStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code dmsg keygen}: a node's key pair and certificate (docs/SECURITY.md §1), or, with --show, its fingerprint. */
@Command(name = "keygen", mixinStandardHelpOptions = true,
    description = {"Makes a node's identity: an EC P-256 key pair and a self-signed certificate (CN = the label), "
        + "as node.key (mode 0600) and node.crt in its data directory, and prints the key's fingerprint. "
        + "A node makes them itself on first start; this makes them ahead of time, e.g. to hand node.crt to peers.",
        "--show prints the existing key's fingerprint and the label in its certificate: FINGERPRINT LABEL.",
        "The CN is --label, else the data directory's name. Exit 0 done; 1 keys already there (without --force) "
            + "or unreadable; 2 usage."})
final class KeygenCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    DataDirOption where;

    @Option(names = "--force", description = "replace existing keys (peers that trusted the old key must trust the new one)")
    boolean force;

    @Option(names = "--show", description = "only print the fingerprint and label of the existing keys")
    boolean show;

    @Override
    public Integer call() {
        Path dir = where.resolve(spec);
        if (show && force) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--show reads the existing keys; it does not go with --force");
        }
        return show ? show(dir) : make(dir);
    }

    private int show(Path dir) {
        try {
            NodeKeys k = NodeKeys.load(dir);
            System.out.println(k.fingerprint() + " " + k.label());
            return 0;
        } catch (IOException e) {
            System.err.println("dmsg keygen: " + e.getMessage());
            return 1;
        }
    }

    private int make(Path dir) {
        Path base = dir.toAbsolutePath().normalize().getFileName();
        String label = where.label != null ? where.label : base != null ? base.toString() : "node";
        Path cert = dir.resolve(NodeKeys.CERT_FILE);
        String old = Files.exists(cert) ? fingerprintOf(cert) : null;
        if (!force && (old != null || Files.exists(dir.resolve(NodeKeys.KEY_FILE)))) {
            System.err.println("dmsg keygen: " + dir + " already holds a node key" + (old != null ? " (" + old + ")" : "")
                + "; not replaced, since peers trust it. --show prints it; --force makes a new one");
            return 1;
        }
        NodeKeys k = NodeKeys.generate(label);
        try {
            k.write(dir, force);
        } catch (IOException e) {
            System.err.println("dmsg keygen: cannot write the keys: " + e.getMessage());
            return 1;
        }
        String name = TrustStore.isName(label) ? label : "NAME";
        System.out.println("made a node key for '" + label + "' in " + dir);
        System.out.println("  " + dir.resolve(NodeKeys.KEY_FILE) + "  private key (PKCS#8 PEM, mode 0600): never copy it");
        System.out.println("  " + cert + "  certificate (CN " + label + "): give it to the peers that should trust this node");
        System.out.println("fingerprint " + k.fingerprint());
        System.out.println("a peer trusts this node with: dmsg trust add " + name + " " + cert + "   (or: dmsg trust add "
            + name + " " + k.fingerprint() + ")");
        if (old != null) {
            System.out.println("replaced the old key " + old + ": peers that trusted it refuse this node until they run "
                + "'dmsg trust remove " + name + "' and 'dmsg trust add " + name + " " + k.fingerprint() + "'");
        }
        return 0;
    }

    private static String fingerprintOf(Path cert) {
        try {
            return Fingerprints.of(NodeKeys.readPublicKey(cert));
        } catch (IOException e) {
            return "unreadable: " + e.getMessage();
        }
    }
}
