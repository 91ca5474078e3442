// Renders /openapi.json with Swagger UI, from a file rather than an inline script: the page's
// Content-Security-Policy allows scripts from this origin only.
globalThis.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // The default sends the document's URL to validator.swagger.io for a badge: nothing leaves this origin.
  validatorUrl: null,
});
