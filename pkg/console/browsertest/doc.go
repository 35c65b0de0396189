// Package browsertest drives iga's web console in headless Chromium over the Chrome
// DevTools Protocol. It is its own module so the browser driver never becomes a
// dependency of pkg; its test is the whole package.
package browsertest
