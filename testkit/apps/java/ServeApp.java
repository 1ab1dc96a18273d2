import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A JVM web app under load, for recorded memory series: `java ServeApp leak|steady`.
 * GET /work?n=N handles N requests, each keeping an 8 KiB response: `leak`
 * keeps every one in a static list, `steady` in an LRU of 2,000 (16 MiB).
 * Listens on $LISTEN (port 0 picks one) and prints "listening on HOST:PORT".
 */
public class ServeApp {
    static final List<byte[]> KEPT = new ArrayList<>();
    static final Map<Long, byte[]> RECENT = new LinkedHashMap<>(4096, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, byte[]> eldest) {
            return size() > 2000;
        }
    };
    static long next = 0;

    public static void main(String[] args) throws Exception {
        boolean leak = args.length > 0 && args[0].equals("leak");
        String listen = System.getenv().getOrDefault("LISTEN", "127.0.0.1:0");
        int colon = listen.lastIndexOf(':');
        HttpServer server = HttpServer.create(
                new InetSocketAddress(listen.substring(0, colon), Integer.parseInt(listen.substring(colon + 1))), 16);
        server.createContext("/work", ex -> {
            String q = ex.getRequestURI().getQuery();
            int n = q != null && q.startsWith("n=") ? Integer.parseInt(q.substring(2)) : 1;
            synchronized (KEPT) {
                for (int i = 0; i < n; i++) {
                    byte[] response = new byte[8192];
                    response[0] = (byte) next;
                    if (leak) {
                        KEPT.add(response);
                    } else {
                        RECENT.put(next, response);
                    }
                    next++;
                }
            }
            byte[] body = "ok\n".getBytes();
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        });
        server.start();
        InetSocketAddress a = server.getAddress();
        System.out.println("listening on " + a.getHostString() + ":" + a.getPort());
        System.out.flush();
    }
}
