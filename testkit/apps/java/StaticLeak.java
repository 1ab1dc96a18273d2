import java.util.HashMap;
import java.util.Map;

/** The classic: a static map that requests add to and nothing removes from. */
public class StaticLeak {
    static final Map<String, Session> SESSIONS = new HashMap<>();

    static final class Session {
        final byte[] state = new byte[1024];
    }

    static void step(int n) {
        for (int i = 0; i < 4000; i++) {
            // Keyed by what a real session map holds of its users; redaction
            // tests look for the marker.
            SESSIONS.put("LEAKHOUND-SECRET-hprof session-" + n + "-" + i, new Session());
        }
        LeakApp.churn();
    }
}
