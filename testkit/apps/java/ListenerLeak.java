import java.util.ArrayList;
import java.util.List;

/** Each request registers a listener on a long-lived bus and never removes it. */
public class ListenerLeak {
    interface Listener {
        void onEvent(String event);
    }

    static final class EventBus {
        private final List<Listener> listeners = new ArrayList<>();

        void addListener(Listener l) {
            listeners.add(l);
        }
    }

    static final class RequestHandler implements Listener {
        final byte[] context = new byte[1024];

        public void onEvent(String event) {}
    }

    static final EventBus BUS = new EventBus();

    static void step(int n) {
        for (int i = 0; i < 4000; i++) {
            BUS.addListener(new RequestHandler());
        }
        LeakApp.churn();
    }
}
