package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.NodeKeys;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code dmsg trust add|list|remove} on a node's data directory. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TrustCommandTest extends CliCapture {
    @TempDir
    Path tmp;

    Path alpha;
    Path betaCert;
    String betaFp;
    String gammaFp;

    @BeforeEach
    void peers() throws Exception {
        alpha = tmp.resolve("alpha");
        NodeKeys beta = NodeKeys.generate("beta");
        beta.write(tmp.resolve("beta"), false);
        betaCert = tmp.resolve("beta").resolve(NodeKeys.CERT_FILE);
        betaFp = beta.fingerprint();
        gammaFp = NodeKeys.generate("gamma").fingerprint();
    }

    int trust(String... args) {
        String[] all = new String[args.length + 3];
        all[0] = "trust";
        System.arraycopy(args, 0, all, 1, args.length);
        all[args.length + 1] = "--data-dir";
        all[args.length + 2] = alpha.toString();
        return run(all);
    }

    String file() {
        return alpha.resolve("trusted").toString();
    }

    @Test
    void addByKeyFileAndByFingerprintThenListAndRemove() throws Exception {
        assertThat(trust("add", "beta", betaCert.toString())).isZero();
        assertThat(out()).isEqualTo("trusting beta (member, " + betaFp + ") in " + file() + "\n");
        assertThat(trust("add", "ops-cli", gammaFp, "--role", "client", "--grant", "shell-ro,blk-read")).isZero();
        assertThat(out()).isEqualTo("trusting ops-cli (client shell-ro,blk-read, " + gammaFp + ") in " + file() + "\n");
        assertThat(err()).isEmpty();

        assertThat(trust("list")).isZero();
        assertThat(out()).isEqualTo(
            "NAME     ROLE    GRANTS             FINGERPRINT\n"
                + "beta     member  -                  " + betaFp + "\n"
                + "ops-cli  client  shell-ro,blk-read  " + gammaFp + "\n");

        assertThat(trust("list", "--json")).isZero();
        JsonNode json = new ObjectMapper().readTree(out());
        assertThat(json).hasSize(2);
        assertThat(json.get(0).get("name").asText()).isEqualTo("beta");
        assertThat(json.get(0).get("role").asText()).isEqualTo("member");
        assertThat(json.get(0).get("grants")).isEmpty();
        assertThat(json.get(0).get("fingerprint").asText()).isEqualTo(betaFp);
        assertThat(json.get(1).get("grants").toString()).isEqualTo("[\"shell-ro\",\"blk-read\"]");

        assertThat(trust("add", "beta", betaFp)).isZero(); // the same again
        assertThat(out()).endsWith("is trusted already in " + file() + "; nothing changed\n");

        assertThat(trust("remove", "beta")).isZero();
        assertThat(out()).isEqualTo("no longer trusting beta (member, " + betaFp + ") in " + file() + "\n");
        assertThat(trust("list", "--json")).isZero();
        assertThat(new ObjectMapper().readTree(out())).hasSize(1);
        assertThat(trust("remove", "beta")).isEqualTo(1);
        assertThat(err()).isEqualTo("dmsg trust remove: 'beta' is not trusted in " + file() + "\n");
    }

    @Test
    void aPemPublicKeyIsAKeyFileToo() throws Exception {
        NodeKeys delta = NodeKeys.generate("delta");
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            w.writeObject(delta.publicKey());
        }
        Path pub = tmp.resolve("delta.pub");
        Files.writeString(pub, s.toString());
        assertThat(trust("add", "delta", pub.toString(), "--role", "admin")).isZero();
        assertThat(out()).contains("delta (admin, " + delta.fingerprint() + ")");
    }

    @Test
    void anEmptyStoreListsAsSuch() {
        assertThat(trust("list")).isZero();
        assertThat(out()).isEqualTo("no peers trusted in " + file() + "\n");
        assertThat(trust("list", "--json")).isZero();
        assertThat(out().strip()).isEqualTo("[ ]");
    }

    @Test
    void aNameWithAnotherKeyOrAKeyUnderAnotherNameExitsOneNamingBoth() {
        assertThat(trust("add", "beta", betaCert.toString())).isZero();
        assertThat(trust("add", "beta", gammaFp)).isEqualTo(1);
        assertThat(err()).startsWith("dmsg trust add: 'beta' is already trusted with " + betaFp + ", not " + gammaFp)
            .contains("dmsg trust remove beta");
        assertThat(trust("add", "gamma", betaFp)).isEqualTo(1);
        assertThat(err()).startsWith("dmsg trust add: key " + betaFp + " is already trusted as 'beta'")
            .contains("so not as 'gamma'");
        assertThat(trust("add", "beta", betaFp, "--role", "admin")).isEqualTo(1);
        assertThat(err()).startsWith("dmsg trust add: 'beta' is already trusted with this key as member, not admin");
    }

    @Test
    void keysThatAreNotKeysExitOneNamingWhatWasGiven() throws Exception {
        assertThat(trust("add", "beta", tmp.resolve("nosuch.crt").toString())).isEqualTo(1);
        assertThat(err()).isEqualTo("dmsg trust add: '" + tmp.resolve("nosuch.crt") + "' is neither a fingerprint "
            + "(SHA256:...) nor a file (a peer's node.crt or a PEM public key)\n");
        assertThat(trust("add", "beta", "SHA256:abc")).isEqualTo(1);
        assertThat(err()).isEqualTo("dmsg trust add: 'SHA256:abc' is not a whole fingerprint: SHA256: and 43 base64 "
            + "characters, as 'dmsg keygen --show' prints\n");
        Path junk = tmp.resolve("junk.crt");
        Files.writeString(junk, "hello\n");
        assertThat(trust("add", "beta", junk.toString())).isEqualTo(1);
        assertThat(err()).startsWith("dmsg trust add: " + junk + ": ");
        Path key = tmp.resolve("beta").resolve(NodeKeys.KEY_FILE); // the private key: not what a peer hands out
        assertThat(trust("add", "beta", key.toString())).isEqualTo(1);
        assertThat(err()).startsWith("dmsg trust add: " + key + ": neither a certificate nor a public key in PEM");
        assertThat(alpha).doesNotExist();
    }

    @Test
    void badNamesRolesAndGrantsAreUsageErrors() {
        assertThat(trust("add", "beta", betaFp, "--grant", "shell-ro")).isEqualTo(2);
        assertThat(err()).startsWith("--grant is only for --role client, not member (admin and member may do what their role allows");
        assertThat(trust("add", "beta", betaFp, "--role", "root")).isEqualTo(2);
        assertThat(err()).startsWith("role must be admin, member or client, not 'root'");
        assertThat(trust("add", "beta", betaFp, "--role", "client", "--grant", "blk-write")).isEqualTo(2);
        assertThat(err()).startsWith("unknown grant 'blk-write' (grants: shell-ro, blk-read, blk-rw, kv-read, kv-write, lock, lock-read)");
        assertThat(trust("add", "be/ta", betaFp)).isEqualTo(2);
        assertThat(err()).startsWith("bad NAME 'be/ta': 1..63 characters of A-Z a-z 0-9 . _ : -");
        assertThat(run("trust", "list")).isEqualTo(2);
        assertThat(err()).startsWith("say which node: --data-dir DIR, or --label NAME");
        assertThat(alpha).doesNotExist();
    }

    @Test
    void aBrokenStoreExitsOneWithFileAndLine() throws Exception {
        Files.createDirectories(alpha);
        Files.writeString(alpha.resolve("trusted"), "# peers\nbeta " + betaFp + " member shell-ro\n");
        assertThat(trust("list")).isEqualTo(1);
        assertThat(err()).isEqualTo("dmsg trust list: " + file() + ":2: grants shell-ro are only for role client, not "
            + "member (admin and member may do what their role allows, docs/SECURITY.md §5)\n");
        assertThat(trust("add", "gamma", gammaFp)).isEqualTo(1);
        assertThat(err()).startsWith("dmsg trust add: " + file() + ":2: grants shell-ro");
    }
}
