// Renders /api/openapi.json with the vendored Swagger UI (a file of its own:
// the page's Content-Security-Policy allows no inline script).
window.addEventListener("load", function () {
  window.SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui" });
});
