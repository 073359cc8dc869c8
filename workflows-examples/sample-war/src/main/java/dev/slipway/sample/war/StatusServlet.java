package dev.slipway.sample.war;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** `/health` and `/version` under the app's context path, as JSON. */
public final class StatusServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final Gson GSON = new Gson();

    private String name = "unknown";
    private String version = "unknown";

    @Override
    public void init() throws ServletException {
        Properties build = new Properties();
        try (InputStream in = StatusServlet.class.getResourceAsStream("/sample-war.properties")) {
            if (in != null) {
                build.load(in);
            }
        } catch (IOException e) {
            throw new ServletException("cannot read sample-war.properties", e);
        }
        name = build.getProperty("name", name);
        version = build.getProperty("version", version);
        log("sample-war " + version + " ready at " + getServletContext().getContextPath() + "/");
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
        JsonObject body = new JsonObject();
        if ("/health".equals(request.getServletPath())) {
            body.addProperty("status", "ok");
        } else {
            body.addProperty("name", name);
            body.addProperty("version", version);
            body.addProperty("container", getServletContext().getServerInfo());
            body.addProperty("contextPath", request.getContextPath());
        }
        response.setStatus(HttpServletResponse.SC_OK);
        response.setContentType("application/json");
        response.setCharacterEncoding("UTF-8");
        response.getWriter().write(GSON.toJson(body));
    }
}
