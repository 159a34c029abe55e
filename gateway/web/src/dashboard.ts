// The sync dashboard served at GET /dashboard (see dashboard/App.ts).
import { createElement, StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './dashboard/App.ts';
import './dashboard.css';

const root = document.getElementById('root');
if (!root) throw new Error('the page has no #root element');
createRoot(root).render(createElement(StrictMode, null, createElement(App)));
