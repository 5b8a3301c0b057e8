// The API docs page's bootstrap (/api/v1/docs): Swagger UI, vendored under /static/vendor/swagger-ui, reads the
// OpenAPI description named by the container's data-openapi-url. A static file: the page's CSP allows no inline script.
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
  });
})();
