package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the docs say an option's default is, checked against the option itself. */
class DocsAgreeTest {
    /** docs/SECURITY.md §3's Provider bullet, up to the next bullet. */
    static String providerBullet() throws Exception {
        String doc = Files.readString(Path.of("..", "docs", "SECURITY.md"));
        int at = doc.indexOf("- Provider (`TlsConfig.Provider`");
        assertThat(at).as("the Provider bullet of docs/SECURITY.md").isNotNegative();
        int end = doc.indexOf("\n\n", at); // the last bullet of its list
        int next = doc.indexOf("\n- ", at);
        end = next >= 0 && next < end ? next : end;
        return doc.substring(at, end).replaceAll("\\s+", " ");
    }

    @Test
    void securityMdNamesTheNodesTlsProviderDefault() throws Exception {
        String dflt = Main.commandLine(Map.of()).getSubcommands().get("node").getCommandSpec()
            .findOption("--tls-provider").defaultValue();
        assertThat(dflt).isEqualTo("AUTO");
        assertThat(providerBullet()).contains("**" + dflt + "** by default for a node");
    }
}
